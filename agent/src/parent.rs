//! A cycle child (`census-agent cycle`) must not outlive the `census-agent run` that started it: a
//! daemon killed with SIGKILL (by an administrator, or by an OOM kill outside systemd's control group)
//! would otherwise leave its child collecting and reporting alone, and a restarted daemon would start
//! a second one beside it.
//!
//! On Linux the child asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), then
//! checks that its parent is still the daemon that started it: had the daemon died between the fork
//! and that request, no signal would ever come. Elsewhere this does nothing yet.

/// Arms "stop when the daemon `parent` dies" for this process; an error when it is already gone.
#[cfg(target_os = "linux")]
pub fn stop_with(parent: u32) -> Result<(), String> {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::TERM))
        .map_err(|errno| format!("asking to be stopped with the agent daemon: {errno}"))?;
    let current = getppid().map(|pid| pid.as_raw_nonzero().get() as u32);
    if current != Some(parent) {
        return Err(format!(
            "the agent daemon (pid {parent}) exited before this cycle started; nothing was done"
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn stop_with(_parent: u32) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_whose_daemon_is_gone_does_not_start() {
        let not_my_parent = std::process::id();
        let error = stop_with(not_my_parent).unwrap_err();
        assert!(
            error.contains("exited before this cycle started"),
            "{error}"
        );
        // Disarm: the test harness thread that "parents" this process must not matter to other tests.
        rustix::process::set_parent_process_death_signal(None).unwrap();
    }

    #[test]
    fn the_real_parent_is_accepted() {
        let parent = rustix::process::getppid()
            .map(|pid| pid.as_raw_nonzero().get() as u32)
            .unwrap();
        assert_eq!(stop_with(parent), Ok(()));
        rustix::process::set_parent_process_death_signal(None).unwrap();
    }
}

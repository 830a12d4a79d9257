//! Mounted filesystems that hold data: device, mount point, type, size, free space, read-only flag.
//!
//! Layout: [`parse_mounts`] reads the `/proc/mounts` format (octal escapes `\040` for spaces etc.) and
//! keeps only real filesystems ([`is_kept`]); [`round_free`] applies the 1%-step rounding the inventory
//! hash relies on; [`collect`] adds `statvfs` sizes on the live machine.
//!
//! Decisions:
//! - Pseudo filesystems (proc, sysfs, cgroup, devtmpfs, debugfs ...) and `tmpfs` are left out, even on
//!   `/tmp`: tmpfs is memory, its contents vanish at reboot and its usage churns every minute.
//! - squashfs (snaps, live images) is left out: read-only package images, not storage.
//! - `overlay` is kept only on `/` (a container's root); elsewhere it is Docker's per-container layers.
//! - Sizes come from `statvfs` on the live machine only, and never for network filesystems (nfs, cifs):
//!   `statvfs` on a dead NFS server blocks forever, and an inventory must not hang.
//! - `free_bytes` is the space available to unprivileged users (`df`'s "Avail").
//! - When one mount point is mounted over, the last (visible) mount wins.
//! - On the live machine the mount table is PID 1's (`/proc/1/mounts`), not the agent's own: a
//!   hardened service's private mount namespace would report every filesystem read-only.

use super::{Errors, Root};
use census_shared::inventory::Filesystem;

const LOCAL_TYPES: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat", "exfat", "ntfs", "ntfs3", "fuseblk",
    "f2fs", "jfs", "reiserfs", "bcachefs",
];
const NETWORK_TYPES: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs"];

pub fn collect(root: &Root, errors: &mut Errors) -> Vec<Filesystem> {
    // Live: PID 1's mount table first. Ours differs when a service manager gave the agent a mount
    // namespace: the census-agent unit's ProtectSystem=strict shows every mount read-only there, and
    // its StateDirectory= and PrivateTmp= add bind mounts. Reading PID 1's needs root; else ours.
    let text = if root.is_live() {
        root.read_to_string("/proc/1/mounts")
            .or_else(|_| root.read_to_string("/proc/self/mounts"))
    } else {
        root.read_to_string("/proc/mounts")
    };
    let text = match text {
        Ok(text) => text,
        Err(error) => {
            errors.record("filesystems", error);
            return Vec::new();
        }
    };
    let mut filesystems = parse_mounts(&text);
    if root.is_live() {
        for filesystem in &mut filesystems {
            let network = filesystem
                .fs_type
                .as_deref()
                .is_some_and(|t| NETWORK_TYPES.contains(&t));
            if network {
                continue;
            }
            match rustix::fs::statvfs(filesystem.mount_point.as_str()) {
                Ok(stat) => {
                    let total = stat.f_blocks.saturating_mul(stat.f_frsize);
                    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
                    filesystem.total_bytes = Some(total);
                    filesystem.free_bytes = Some(round_free(free, total));
                }
                Err(error) => errors.record(
                    "filesystems",
                    format!("statvfs {} failed: {error}", filesystem.mount_point),
                ),
            }
        }
    }
    filesystems
}

/// Rounds `free` down to a multiple of 1% of `total`, so that usage moving by less than a percent does
/// not change the document (see `Filesystem::free_bytes`).
pub fn round_free(free: u64, total: u64) -> u64 {
    let free = free.min(total);
    match free.checked_div(total / 100) {
        Some(steps) => steps * (total / 100),
        // Below 100 bytes there is no 1% step: keep the exact value.
        None => free,
    }
}

/// Whether a mount of `fs_type` at `mount_point` is storage worth inventorying.
pub fn is_kept(fs_type: &str, mount_point: &str) -> bool {
    LOCAL_TYPES.contains(&fs_type)
        || NETWORK_TYPES.contains(&fs_type)
        || (fs_type == "overlay" && mount_point == "/")
}

/// Parses `/proc/mounts` lines (`device mount_point type options dump pass`), keeping real filesystems.
pub fn parse_mounts(text: &str) -> Vec<Filesystem> {
    let mut filesystems: Vec<Filesystem> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type), options) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount_point = unescape(mount_point);
        if !is_kept(fs_type, &mount_point) {
            continue;
        }
        let read_only = options.map(|options| options.split(',').any(|option| option == "ro"));
        filesystems.retain(|existing| existing.mount_point != mount_point);
        filesystems.push(Filesystem {
            device: Some(unescape(device)),
            mount_point,
            fs_type: Some(fs_type.to_string()),
            total_bytes: None,
            free_bytes: None,
            read_only,
        });
    }
    filesystems
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture_root(distro: &str) -> Root {
        Root::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures")
                .join(distro),
        )
    }

    fn fs(device: &str, mount: &str, fs_type: &str, read_only: bool) -> Filesystem {
        Filesystem {
            device: Some(device.into()),
            mount_point: mount.into(),
            fs_type: Some(fs_type.into()),
            total_bytes: None,
            free_bytes: None,
            read_only: Some(read_only),
        }
    }

    #[test]
    fn mounts_with_escapes_and_pseudo_filesystems() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/filesystem/mounts-escapes"
        ))
        .unwrap();
        assert_eq!(
            parse_mounts(&text),
            vec![
                fs("/dev/vda", "/", "ext4", false),
                fs("/dev/sdb1", "/media/usb stick", "vfat", false),
                fs("//nas/share\\x", "/mnt/nas\tdata", "cifs", true),
            ]
        );
    }

    #[test]
    fn free_space_rounds_down_to_one_percent() {
        assert_eq!(round_free(1_234_567, 10_000_000), 1_200_000);
        assert_eq!(round_free(50, 60), 50);
        assert_eq!(round_free(0, 0), 0);
        assert_eq!(round_free(200, 100), 100);
    }

    #[test]
    fn overlay_only_as_root() {
        assert!(is_kept("overlay", "/"));
        assert!(!is_kept("overlay", "/var/lib/docker/overlay2/x/merged"));
        assert!(!is_kept("tmpfs", "/tmp"));
        assert!(!is_kept("squashfs", "/snap/core22/1380"));
    }

    fn check(distro: &str, expected: Vec<Filesystem>) {
        let mut errors = Errors::default();
        let found = collect(&fixture_root(distro), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        assert_eq!(found, expected);
    }

    #[test]
    fn debian_server() {
        check(
            "debian",
            vec![
                fs("/dev/md0", "/", "ext4", false),
                fs("/dev/sda1", "/boot/efi", "vfat", false),
                fs("/dev/mapper/vg0-srv", "/srv", "xfs", false),
                fs(
                    "nas01.example.com:/export/backup",
                    "/mnt/backup",
                    "nfs4",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn ubuntu_laptop() {
        check(
            "ubuntu",
            vec![
                fs("/dev/mapper/vgubuntu-root", "/", "ext4", false),
                fs("/dev/nvme0n1p2", "/boot", "ext4", false),
                fs("/dev/nvme0n1p1", "/boot/efi", "vfat", false),
                fs("/dev/sda1", "/media/jdoe/USB DISK", "exfat", false),
            ],
        );
    }

    #[test]
    fn rhel_vm() {
        check(
            "rhel",
            vec![
                fs("/dev/mapper/rhel-root", "/", "xfs", false),
                fs("/dev/sda1", "/boot", "xfs", false),
                fs("/dev/mapper/rhel-home", "/home", "xfs", false),
            ],
        );
    }

    #[test]
    fn alpine_vm() {
        check(
            "alpine",
            vec![
                fs("/dev/vda3", "/", "ext4", false),
                fs("/dev/vda1", "/boot", "ext4", false),
            ],
        );
    }

    #[test]
    fn arch_board() {
        check(
            "arch",
            vec![
                fs("/dev/mmcblk0p2", "/", "btrfs", false),
                fs("/dev/mmcblk0p2", "/home", "btrfs", false),
                fs("/dev/mmcblk0p1", "/boot", "vfat", false),
            ],
        );
    }

    #[test]
    fn live_root_has_sizes() {
        let mut errors = Errors::default();
        let found = collect(&Root::live(), &mut errors);
        for filesystem in found
            .iter()
            .filter(|f| f.fs_type.as_deref() != Some("nfs4"))
        {
            let total = filesystem.total_bytes.unwrap();
            let free = filesystem.free_bytes.unwrap();
            assert!(free <= total);
            if total >= 100 {
                assert_eq!(free % (total / 100), 0);
            }
        }
    }
}

//! End-to-end tests: the real binaries, run as processes, on fixture trees and over real TLS.

mod faults;
mod fleet;
mod inventory;
mod packages;
mod quickstart;
mod run;
mod transport;

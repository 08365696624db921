//! Log lines through the host's `sandbox.log` import; lines past the host's log limit are dropped, not failures.
use crate::host::log_raw;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Logs one UTF-8 line. The host's status is ignored on purpose: a dropped log line must not fail the run.
pub fn log(level: Level, message: &str) {
    let _ = log_raw(level as i32, message);
}

pub fn debug(message: &str) {
    log(Level::Debug, message)
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// The host reports the last `error` line before a non-zero return as the run's `message`.
pub fn error(message: &str) {
    log(Level::Error, message)
}

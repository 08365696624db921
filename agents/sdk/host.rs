//! Safe wrappers over the `sandbox` host imports: output, emit, now, random (log lives in `log.rs`).
use crate::error::{Error, ERROR_HOST};
use crate::msgpack;
use crate::value::Value;
use std::fmt;

// The Rust-side names differ from the import names so they cannot collide with other symbols (libm's `log`).
#[link(wasm_import_module = "sandbox")]
extern "C" {
    #[link_name = "output"]
    fn sandbox_output(ptr: *const u8, len: usize) -> i32;
    #[link_name = "emit"]
    fn sandbox_emit(topic_ptr: *const u8, topic_len: usize, payload_ptr: *const u8, payload_len: usize) -> i32;
    #[link_name = "log"]
    fn sandbox_log(level: i32, ptr: *const u8, len: usize) -> i32;
    #[link_name = "now"]
    fn sandbox_now() -> i64;
    #[link_name = "random"]
    fn sandbox_random(ptr: *mut u8, len: usize) -> i32;
}

/// A status code a host import returned instead of `OK` (docs/abi.md). The host has already marked the run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// `E_BOUNDS` (-1): a pointer/length pair was outside guest memory.
    Bounds,
    /// `E_LIMIT` (-2): an output, event or log limit would be exceeded; nothing was recorded.
    Limit,
    /// `E_INVALID` (-3): bytes were not MessagePack or UTF-8, or the topic is malformed.
    Invalid,
    /// A code this SDK does not know (a newer host).
    Other(i32),
}

impl HostError {
    fn check(code: i32) -> Result<(), HostError> {
        match code {
            0 => Ok(()),
            -1 => Err(HostError::Bounds),
            -2 => Err(HostError::Limit),
            -3 => Err(HostError::Invalid),
            other => Err(HostError::Other(other)),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Bounds => f.write_str("E_BOUNDS: pointer/length outside guest memory"),
            HostError::Limit => f.write_str("E_LIMIT: a host limit would be exceeded"),
            HostError::Invalid => f.write_str("E_INVALID: invalid bytes or topic"),
            HostError::Other(code) => write!(f, "host status {}", code),
        }
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Error::new(ERROR_HOST, format!("host call failed: {}", e))
    }
}

/// Sets the run's output (a later call replaces an earlier one).
pub fn output(value: &Value) -> Result<(), HostError> {
    output_raw(&msgpack::encode(value))
}

/// Sets the run's output to bytes that must already be MessagePack.
pub fn output_raw(msgpack_bytes: &[u8]) -> Result<(), HostError> {
    HostError::check(unsafe { sandbox_output(msgpack_bytes.as_ptr(), msgpack_bytes.len()) })
}

/// Emits an event; the host holds it back and publishes it only if the run succeeds.
pub fn emit(topic: &str, payload: &Value) -> Result<(), HostError> {
    emit_raw(topic, &msgpack::encode(payload))
}

/// Emits an event whose payload bytes must already be MessagePack.
pub fn emit_raw(topic: &str, msgpack_payload: &[u8]) -> Result<(), HostError> {
    HostError::check(unsafe {
        sandbox_emit(topic.as_ptr(), topic.len(), msgpack_payload.as_ptr(), msgpack_payload.len())
    })
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    unsafe { sandbox_now() }
}

/// Fills `buf` with cryptographically secure random bytes.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), HostError> {
    HostError::check(unsafe { sandbox_random(buf.as_mut_ptr(), buf.len()) })
}

/// A random u64 from the host's secure source.
pub fn random_u64() -> Result<u64, HostError> {
    let mut buf = [0u8; 8];
    random_bytes(&mut buf)?;
    Ok(u64::from_le_bytes(buf))
}

pub(crate) fn log_raw(level: i32, message: &str) -> i32 {
    unsafe { sandbox_log(level, message.as_ptr(), message.len()) }
}

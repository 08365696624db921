//! Host functions the application granted this agent (`sandbox.call`, docs/abi.md): one synchronous call, its decoded answer.
use crate::msgpack;
use crate::value::Value;
use std::fmt;

#[link(wasm_import_module = "sandbox")]
extern "C" {
    #[link_name = "call"]
    fn sandbox_call(name_ptr: *const u8, name_len: usize, payload_ptr: *const u8, payload_len: usize) -> i32;
    #[link_name = "call_result"]
    fn sandbox_call_result(out_ptr: *mut u8, out_len: usize) -> i32;
}

/// Why a host call gave no answer.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// `E_UNAVAILABLE` (-4): no host function of that name was granted to this agent.
    Unavailable(String),
    /// `E_HOST` (-5): the host function threw or rejected; its message.
    Host(String),
    /// Another status: `E_LIMIT` (calls or bytes per run), `E_INVALID`, `E_BOUNDS` (the run is already failed).
    Status(i32),
    /// The answer was not MessagePack (a host bug).
    BadAnswer,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unavailable(m) => write!(f, "E_UNAVAILABLE: {}", m),
            CallError::Host(m) => write!(f, "E_HOST: {}", m),
            CallError::Status(code) => write!(f, "host status {}", code),
            CallError::BadAnswer => f.write_str("the host's answer is not MessagePack"),
        }
    }
}

impl CallError {
    /// The status code the import returned.
    pub fn status(&self) -> i32 {
        match self {
            CallError::Unavailable(_) => -4,
            CallError::Host(_) => -5,
            CallError::Status(code) => *code,
            CallError::BadAnswer => -3,
        }
    }
}

fn answer(length: i32) -> Result<Value, CallError> {
    let mut buf = vec![0u8; length.max(0) as usize];
    let copied = unsafe { sandbox_call_result(buf.as_mut_ptr(), buf.len()) };
    if copied < 0 {
        return Err(CallError::Status(copied));
    }
    buf.truncate(copied as usize);
    msgpack::decode(&buf).map_err(|_| CallError::BadAnswer)
}

/// Calls the host function `name` with `arg` and returns its answer.
pub fn host_call(name: &str, arg: &Value) -> Result<Value, CallError> {
    let payload = msgpack::encode(arg);
    let n = unsafe { sandbox_call(name.as_ptr(), name.len(), payload.as_ptr(), payload.len()) };
    if n == -4 || n == -5 {
        let text = match answer(64 * 1024) {
            Ok(Value::Str(s)) => s,
            _ => String::new(),
        };
        return Err(if n == -4 { CallError::Unavailable(text) } else { CallError::Host(text) });
    }
    if n < 0 {
        return Err(CallError::Status(n));
    }
    answer(n)
}

/// What this agent was granted: `{host: [names], config: [keys], http: [hosts]}` (names only).
pub fn grants() -> Result<Value, CallError> {
    host_call("sandbox.grants", &Value::Nil)
}

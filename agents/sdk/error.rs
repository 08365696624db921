//! The error an agent handler returns: a non-zero code for the host and a message logged at level `error`.
use std::fmt;

/// Something went wrong that is not the input's fault.
pub const ERROR_FAILED: i32 = 1;
/// The input is not what the agent expects (bad MessagePack, missing or mistyped field).
pub const ERROR_INVALID_INPUT: i32 = 2;
/// A host call refused the request (output, event or log limit, invalid bytes).
pub const ERROR_HOST: i32 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

impl Error {
    /// An error with a guest-defined code; codes below 1 become [`ERROR_FAILED`] because the ABI reserves 0 for success.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Error { code: if code > 0 { code } else { ERROR_FAILED }, message: message.into() }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(ERROR_FAILED, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ERROR_INVALID_INPUT, message)
    }

    pub fn code(&self) -> i32 {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

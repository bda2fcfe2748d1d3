//! Positional values: given on the command line, or read from stdin for `-` or none.

use std::io::{IsTerminal, Read};

use reftoken::{dataprotection, limits};

use crate::Failure;

/// A value a verb takes as a positional argument or from stdin.
pub struct Value {
    /// What it is, for messages: "the handle".
    pub what: &'static str,
    /// The most bytes the verb accepts: stdin is read no further than this.
    pub max: usize,
    /// Whether an empty value means something (ASP.NET Core protects the empty string).
    pub may_be_empty: bool,
}

pub const HANDLE: Value = Value::required("the handle", limits::MAX_HANDLE_LEN);
pub const DATA: Value = Value::required("the Data column", limits::MAX_DATA_LEN);
pub const PAYLOAD: Value = Value::required("the payload", dataprotection::MAX_PAYLOAD_STR_LEN);
pub const TEXT: Value = Value {
    may_be_empty: true,
    ..Value::required("the text", dataprotection::MAX_PAYLOAD_LEN)
};
/// The core hashes secrets of any length; stdin stops at its largest input anywhere (1 MiB).
pub const SECRET: Value = Value::required("the secret", limits::MAX_DATA_LEN);

impl Value {
    /// A value that may not be empty.
    const fn required(what: &'static str, max: usize) -> Value {
        Value {
            what,
            max,
            may_be_empty: false,
        }
    }

    /// `arg` itself, or for `-` or no argument the whole of stdin as UTF-8, with one trailing
    /// line ending (`\n` or `\r\n`) removed so that `echo VALUE | reftoken ...` and
    /// `$(reftoken ...)` round-trip. Stdin larger than [`Value::max`], or empty when the value
    /// may not be, is an error.
    pub fn read(&self, arg: Option<String>) -> Result<String, Failure> {
        if let Some(v) = arg.filter(|v| v != "-") {
            return Ok(v);
        }
        let what = self.what;
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("reftoken: reading {what} from stdin (end with Ctrl-D)");
        }
        // Room for the value, a `\r\n` and one byte more: enough to tell "too large" without
        // reading an endless input (`< /dev/zero`) any further.
        let mut buf = Vec::new();
        stdin
            .lock()
            .take(self.max as u64 + 3)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Run(format!("cannot read {what} from stdin: {e}")))?;
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        if buf.len() > self.max {
            return Err(Failure::Run(format!(
                "{what} on stdin is larger than the limit of {} bytes",
                self.max
            )));
        }
        if buf.is_empty() && !self.may_be_empty {
            return Err(Failure::Run(format!(
                "{what} read from stdin is empty: give it as an argument or pipe it in"
            )));
        }
        String::from_utf8(buf)
            .map_err(|_| Failure::Run(format!("{what} read from stdin is not UTF-8")))
    }
}

//! Positional values: given on the command line, or read from stdin for `-` or none.

use std::io::Read;

use crate::Failure;

/// The value of a positional argument: `arg` itself, or for `-` or no argument the whole of
/// stdin as UTF-8, with one trailing line ending (`\n` or `\r\n`) removed so that
/// `echo VALUE | reftoken ...` and `$(reftoken ...)` round-trip.
pub fn value(arg: Option<String>, what: &str) -> Result<String, Failure> {
    match arg {
        Some(v) if v != "-" => Ok(v),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::Run(format!("cannot read {what} from stdin: {e}")))?;
            let mut s = String::from_utf8(buf)
                .map_err(|_| Failure::Run(format!("{what} read from stdin is not UTF-8")))?;
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            Ok(s)
        }
    }
}

//! hello-wasi: a WASI preview 1 command. Reads all of stdin and writes `hello, <trimmed stdin>!` to stdout
//! (`hello, world!` when stdin is empty or only whitespace; no trailing newline), then exits 0.
use std::io::{self, Read, Write};

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("hello-wasi: cannot read stdin: {}", e);
        std::process::exit(1);
    }
    let name = match input.trim() {
        "" => "world",
        trimmed => trimmed,
    };
    let mut out = io::stdout().lock();
    if write!(out, "hello, {}!", name).and_then(|_| out.flush()).is_err() {
        std::process::exit(1);
    }
}

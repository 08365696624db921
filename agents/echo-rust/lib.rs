//! echo-rust: the Rust SDK's self-check agent. It decodes its input and outputs it re-encoded, so a host can
//! round-trip every MessagePack type through the SDK codec. Control keys exercise the other paths:
//! `{"$fail": code, "message": text}` returns `code` after logging `text`; `{"$panic": text}` panics with `text`;
//! `{"$emit": topic}` also emits the input on `topic`; `{"$log": text}` also logs `text` at info;
//! `{"$stats": true}` outputs `{runs, inits}` instead: runs handled by this instance (this one included) and
//! `sandbox_init` calls, which show that state persists between runs and that init ran once;
//! `{"$call": name, "arg": x}` outputs `{result}` or `{status, error}` of the host function `name`;
//! `{"$grants": true}` outputs what the agent was granted.
use sandbox_sdk::{agent, emit, grants, host_call, log, output, CallError, Error, Value};

// Guests are single-threaded; these statics are this instance's state across runs.
static mut RUNS: u64 = 0;
static mut INITS: u64 = 0;

fn setup() -> Result<(), Error> {
    unsafe { INITS += 1 };
    Ok(())
}

fn handle(input: Value) -> Result<(), Error> {
    let runs = unsafe {
        RUNS += 1;
        RUNS
    };
    if input.field::<Option<bool>>("$stats")? == Some(true) {
        let inits = unsafe { INITS };
        output(&Value::map([("runs", Value::from(runs)), ("inits", Value::from(inits))]))?;
        return Ok(());
    }
    if let Some(code) = input.field::<Option<i32>>("$fail")? {
        let message: Option<String> = input.field("message")?;
        return Err(Error::new(code, message.unwrap_or_else(|| "failed on request".to_owned())));
    }
    if input.field::<Option<bool>>("$grants")? == Some(true) {
        let granted = grants().map_err(|e| Error::new(3, e.to_string()))?;
        output(&granted)?;
        return Ok(());
    }
    if let Some(name) = input.field::<Option<String>>("$call")? {
        let arg = input.get("arg").cloned().unwrap_or(Value::Nil);
        let answer = match host_call(&name, &arg) {
            Ok(result) => Value::map([("result", result)]),
            Err(e) => {
                let text = match &e {
                    CallError::Unavailable(m) | CallError::Host(m) => m.clone(),
                    other => other.to_string(),
                };
                Value::map([("status", Value::from(e.status() as i64)), ("error", Value::from(text))])
            }
        };
        output(&answer)?;
        return Ok(());
    }
    if let Some(text) = input.field::<Option<String>>("$panic")? {
        panic!("{}", text);
    }
    if let Some(topic) = input.field::<Option<String>>("$emit")? {
        emit(&topic, &input)?;
    }
    if let Some(line) = input.field::<Option<String>>("$log")? {
        log::info(&line);
    }
    output(&input)?;
    Ok(())
}

agent!(handle, init = setup);

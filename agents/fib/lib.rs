//! fib: naive recursive Fibonacci, the call-bound case of the fuel-overhead benchmark. Input `{n}` (u32), output `{value}` (u64).
//!
//! `value` wraps modulo 2^64 past fib(93); recursion makes anything that large take far longer than any run limit anyway.
use sandbox_sdk::{agent, output, Error, Value};

// Deliberately exponential: 2 * fib(n + 1) - 1 calls, so the run is dominated by call overhead.
// Two mutually recursive copies because LLVM rewrites a self-recursive `f(n-1) + f(n-2)` into a loop around
// one call (tail-recursion elimination with an accumulator), which would halve the calls the benchmark measures.
#[inline(never)]
fn fib(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib_again(n - 1).wrapping_add(fib_again(n - 2))
    }
}

#[inline(never)]
fn fib_again(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib(n - 1).wrapping_add(fib(n - 2))
    }
}

fn handle(input: Value) -> Result<(), Error> {
    let n: u32 = input.field("n")?;
    output(&Value::map([("value", Value::from(fib(n)))]))?;
    Ok(())
}

agent!(handle);

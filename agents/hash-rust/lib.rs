//! hash-rust: byte-hashing benchmark agent. Input `{n, seed}`, output `{hash, n}`: FNV-1a 64 of n pseudo-random bytes.
//!
//! The bytes are the little-endian words of splitmix64 seeded with `seed`, truncated to `n`; they are generated in
//! chunks into one reused buffer, so memory stays flat whatever `n` is. `hash` is 16 lowercase hex digits (a JS
//! host would otherwise decode a u64 above 2^53 as a BigInt, which JSON cannot carry).
use sandbox_sdk::{agent, output, Error, Value};

const CHUNK: usize = 16 * 1024;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ b as u64).wrapping_mul(FNV_PRIME);
    }
    hash
}

fn hash_stream(n: u64, seed: u64) -> u64 {
    let mut rng = SplitMix64(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut hash = FNV_OFFSET;
    let mut left = n;
    while left > 0 {
        let len = left.min(CHUNK as u64) as usize;
        // CHUNK is a multiple of 8, so only the last chunk can end inside a word.
        for word in buf[..len].chunks_mut(8) {
            let bytes = rng.next().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        hash = fnv1a(hash, &buf[..len]);
        left -= len as u64;
    }
    hash
}

fn handle(input: Value) -> Result<(), Error> {
    let n: u64 = input.field("n")?;
    let seed: u64 = input.field("seed")?;
    let hash = hash_stream(n, seed);
    output(&Value::map([("hash", Value::from(format!("{:016x}", hash))), ("n", Value::from(n))]))?;
    Ok(())
}

agent!(handle);

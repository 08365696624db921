//! A small MessagePack codec: `decode` into a `Value`, `encode` a `Value`, and an `Encoder` for writing output directly.
use crate::value::Value;
use std::fmt;

/// Nesting deeper than this is refused, so hostile input cannot overflow the guest's stack.
pub const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the input where decoding failed.
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes exactly one value; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut d = Decoder { buf: bytes, pos: 0 };
    let v = d.value(0)?;
    if d.pos != bytes.len() {
        return Err(d.error("trailing bytes after the value"));
    }
    Ok(v)
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError { offset: self.pos, reason }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.buf.get(self.pos..).and_then(|rest| rest.get(..n)).ok_or_else(|| self.error("unexpected end of input"))?;
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn len16(&mut self) -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?) as usize)
    }

    fn len32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    fn str(&mut self, len: usize) -> Result<Value, DecodeError> {
        let start = self.pos;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(s.to_owned())),
            Err(_) => Err(DecodeError { offset: start, reason: "string is not valid UTF-8" }),
        }
    }

    fn bin(&mut self, len: usize) -> Result<Value, DecodeError> {
        Ok(Value::Bin(self.take(len)?.to_vec()))
    }

    fn ext(&mut self, len: usize) -> Result<Value, DecodeError> {
        let kind = self.u8()? as i8;
        Ok(Value::Ext(kind, self.take(len)?.to_vec()))
    }

    /// Preallocates no more elements than bytes remain (each takes at least one), so a lying length cannot exhaust memory.
    fn capacity(&self, len: usize) -> usize {
        len.min(self.buf.len() - self.pos)
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::with_capacity(self.capacity(len));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut entries = Vec::with_capacity(self.capacity(len) / 2);
        for _ in 0..len {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let tag = self.u8()?;
        Ok(match tag {
            0x00..=0x7f => Value::Int(tag as i64),
            0x80..=0x8f => return self.map((tag & 0x0f) as usize, depth),
            0x90..=0x9f => return self.seq((tag & 0x0f) as usize, depth),
            0xa0..=0xbf => return self.str((tag & 0x1f) as usize),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.u8()? as usize;
                return self.bin(n);
            }
            0xc5 => {
                let n = self.len16()?;
                return self.bin(n);
            }
            0xc6 => {
                let n = self.len32()?;
                return self.bin(n);
            }
            0xc7 => {
                let n = self.u8()? as usize;
                return self.ext(n);
            }
            0xc8 => {
                let n = self.len16()?;
                return self.ext(n);
            }
            0xc9 => {
                let n = self.len32()?;
                return self.ext(n);
            }
            0xca => Value::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Value::Int(self.u8()? as i64),
            0xcd => Value::Int(u16::from_be_bytes(self.array()?) as i64),
            0xce => Value::Int(u32::from_be_bytes(self.array()?) as i64),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::Int(self.u8()? as i8 as i64),
            0xd1 => Value::Int(i16::from_be_bytes(self.array()?) as i64),
            0xd2 => Value::Int(i32::from_be_bytes(self.array()?) as i64),
            0xd3 => Value::Int(i64::from_be_bytes(self.array()?)),
            0xd4 => return self.ext(1),
            0xd5 => return self.ext(2),
            0xd6 => return self.ext(4),
            0xd7 => return self.ext(8),
            0xd8 => return self.ext(16),
            0xd9 => {
                let n = self.u8()? as usize;
                return self.str(n);
            }
            0xda => {
                let n = self.len16()?;
                return self.str(n);
            }
            0xdb => {
                let n = self.len32()?;
                return self.str(n);
            }
            0xdc => {
                let n = self.len16()?;
                return self.seq(n, depth);
            }
            0xdd => {
                let n = self.len32()?;
                return self.seq(n, depth);
            }
            0xde => {
                let n = self.len16()?;
                return self.map(n, depth);
            }
            0xdf => {
                let n = self.len32()?;
                return self.map(n, depth);
            }
            0xe0..=0xff => Value::Int(tag as i8 as i64),
            0xc1 => {
                self.pos -= 1;
                return Err(self.error("byte 0xc1 is never used in MessagePack"));
            }
        })
    }
}

/// Encodes a value in the smallest wire form for each item.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut e = Encoder::new();
    e.value(value);
    e.into_bytes()
}

/// Writes MessagePack into a growable buffer; lets an agent build output without an intermediate `Value`.
///
/// Headers (`map_header`, `array_header`) announce a count; the caller then writes that many items (maps: key, value, key, value, ...).
#[derive(Default, Debug, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Encoder { buf: Vec::with_capacity(n) }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn nil(&mut self) -> &mut Self {
        self.buf.push(0xc0);
        self
    }

    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(if b { 0xc3 } else { 0xc2 });
        self
    }

    pub fn u64(&mut self, u: u64) -> &mut Self {
        if u < 0x80 {
            self.buf.push(u as u8);
        } else if u <= 0xff {
            self.buf.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&u.to_be_bytes());
        }
        self
    }

    pub fn i64(&mut self, i: i64) -> &mut Self {
        if i >= 0 {
            return self.u64(i as u64);
        }
        if i >= -32 {
            self.buf.push(i as i8 as u8);
        } else if i >= i8::MIN as i64 {
            self.buf.extend_from_slice(&[0xd0, i as i8 as u8]);
        } else if i >= i16::MIN as i64 {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&(i as i16).to_be_bytes());
        } else if i >= i32::MIN as i64 {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&(i as i32).to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&i.to_be_bytes());
        }
        self
    }

    pub fn f32(&mut self, f: f32) -> &mut Self {
        self.buf.push(0xca);
        self.buf.extend_from_slice(&f.to_be_bytes());
        self
    }

    pub fn f64(&mut self, f: f64) -> &mut Self {
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&f.to_be_bytes());
        self
    }

    fn header(&mut self, len: usize, fix: Option<(usize, u8)>, tag8: Option<u8>, tag16: u8, tag32: u8) {
        match fix {
            Some((limit, base)) if len < limit => self.buf.push(base | len as u8),
            _ => match tag8 {
                Some(tag) if len <= 0xff => self.buf.extend_from_slice(&[tag, len as u8]),
                _ if len <= 0xffff => {
                    self.buf.push(tag16);
                    self.buf.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    // Lengths are u32 on the wire; a wasm32 guest cannot hold more anyway.
                    self.buf.push(tag32);
                    self.buf.extend_from_slice(&(len as u32).to_be_bytes());
                }
            },
        }
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.header(s.len(), Some((32, 0xa0)), Some(0xd9), 0xda, 0xdb);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    pub fn bin(&mut self, b: &[u8]) -> &mut Self {
        self.header(b.len(), None, Some(0xc4), 0xc5, 0xc6);
        self.buf.extend_from_slice(b);
        self
    }

    pub fn array_header(&mut self, len: usize) -> &mut Self {
        self.header(len, Some((16, 0x90)), None, 0xdc, 0xdd);
        self
    }

    pub fn map_header(&mut self, len: usize) -> &mut Self {
        self.header(len, Some((16, 0x80)), None, 0xde, 0xdf);
        self
    }

    pub fn ext(&mut self, kind: i8, data: &[u8]) -> &mut Self {
        let fixed = match data.len() {
            1 => Some(0xd4),
            2 => Some(0xd5),
            4 => Some(0xd6),
            8 => Some(0xd7),
            16 => Some(0xd8),
            _ => None,
        };
        match fixed {
            Some(tag) => self.buf.push(tag),
            None => self.header(data.len(), None, Some(0xc7), 0xc8, 0xc9),
        }
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(data);
        self
    }

    pub fn value(&mut self, v: &Value) -> &mut Self {
        match v {
            Value::Nil => self.nil(),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => self.i64(*i),
            Value::UInt(u) => self.u64(*u),
            Value::F32(f) => self.f32(*f),
            Value::F64(f) => self.f64(*f),
            Value::Str(s) => self.str(s),
            Value::Bin(b) => self.bin(b),
            Value::Array(items) => {
                self.array_header(items.len());
                for item in items {
                    self.value(item);
                }
                self
            }
            Value::Map(entries) => {
                self.map_header(entries.len());
                for (k, v) in entries {
                    self.value(k);
                    self.value(v);
                }
                self
            }
            Value::Ext(kind, data) => self.ext(*kind, data),
        }
    }
}

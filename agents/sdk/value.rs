//! `Value`, the dynamic MessagePack value agents receive and produce, with typed accessors and conversions.
use crate::error::Error;
use std::ops::Index;

/// One MessagePack value.
///
/// Integers that fit `i64` are `Int` whatever their wire format; only values above `i64::MAX` are `UInt`.
/// The accessors accept floats with an integral value too, because JavaScript hosts (msgpackr) encode
/// numbers of 2^32 and above as float64.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    /// Entries in wire order; keys may be any value, though agents mostly use strings.
    Map(Vec<(Value, Value)>),
    /// An extension type (e.g. msgpack's timestamp, type -1) and its raw bytes.
    Ext(i8, Vec<u8>),
}

static NIL: Value = Value::Nil;

// 2^63 and 2^64 as f64 (exact): the bounds a float must stay below to convert to i64/u64 without saturating.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Value {
    /// A map with string keys, in the given order.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (Value::Str(k.into()), v)).collect())
    }

    pub fn array(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Array(items.into_iter().collect())
    }

    /// The MessagePack family name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "int",
            Value::F32(_) | Value::F64(_) => "float",
            Value::Str(_) => "str",
            Value::Bin(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Ext(..) => "ext",
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            Value::F64(f) => integral(f).filter(|f| *f >= -TWO_POW_63 && *f < TWO_POW_63).map(|f| f as i64),
            Value::F32(f) => integral(f as f64).filter(|f| *f >= -TWO_POW_63 && *f < TWO_POW_63).map(|f| f as i64),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            Value::F64(f) => integral(f).filter(|f| *f >= 0.0 && *f < TWO_POW_64).map(|f| f as u64),
            Value::F32(f) => integral(f as f64).filter(|f| *f >= 0.0 && *f < TWO_POW_64).map(|f| f as u64),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|i| i32::try_from(i).ok())
    }

    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|u| u32::try_from(u).ok())
    }

    /// Any number as f64 (large integers round).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::F32(f) => Some(f as f64),
            Value::F64(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under a string key, if this is a map that has it (the first match, as in wire order).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// A typed field of a map: `let n: u32 = input.field("n")?;`. `Option<T>` makes the field optional (missing or nil).
    pub fn field<T: FromValue>(&self, key: &str) -> Result<T, Error> {
        let found = self.get(key);
        if let Some(v) = T::from_value(found.unwrap_or(&NIL)) {
            return Ok(v);
        }
        Err(Error::invalid_input(match found {
            Some(v) => format!("field `{}` must be {}, got {}", key, T::EXPECTED, describe(v)),
            None if self.as_map().is_some() => format!("missing field `{}` ({})", key, T::EXPECTED),
            None => format!("expected a map with field `{}`, got {}", key, self.type_name()),
        }))
    }

    /// The whole value as a `T`, with the same error wording as [`Value::field`].
    pub fn to<T: FromValue>(&self) -> Result<T, Error> {
        T::from_value(self).ok_or_else(|| Error::invalid_input(format!("expected {}, got {}", T::EXPECTED, describe(self))))
    }
}

fn integral(f: f64) -> Option<f64> {
    if f.is_finite() && f.trunc() == f {
        Some(f)
    } else {
        None
    }
}

// Floats are named, not printed: float formatting would add ~50 KB of code to every agent.
fn describe(v: &Value) -> String {
    match v {
        Value::Int(i) => format!("int {}", i),
        Value::UInt(u) => format!("int {}", u),
        Value::Bool(b) => format!("bool {}", b),
        Value::F64(f) if integral(*f).is_some() && f.abs() < TWO_POW_63 => format!("float {}", *f as i64),
        other => other.type_name().to_string(),
    }
}

/// `input["key"]` is the field's value, or `Nil` when it is missing or `input` is not a map.
impl Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NIL)
    }
}

/// `value[i]` is the array element, or `Nil` when out of range or not an array.
impl Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NIL)
    }
}

/// Conversion from a `Value` for [`Value::field`] and [`Value::to`].
pub trait FromValue: Sized {
    /// What the conversion accepts, for error messages ("an unsigned 32-bit integer").
    const EXPECTED: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

macro_rules! from_value_int {
    ($($t:ty => $via:ident, $what:expr;)*) => {$(
        impl FromValue for $t {
            const EXPECTED: &'static str = $what;
            fn from_value(v: &Value) -> Option<Self> {
                v.$via().and_then(|x| <$t>::try_from(x).ok())
            }
        }
    )*};
}

from_value_int! {
    u8 => as_u64, "an unsigned 8-bit integer";
    u16 => as_u64, "an unsigned 16-bit integer";
    u32 => as_u64, "an unsigned 32-bit integer";
    u64 => as_u64, "an unsigned 64-bit integer";
    usize => as_u64, "an unsigned 32-bit integer";
    i8 => as_i64, "a signed 8-bit integer";
    i16 => as_i64, "a signed 16-bit integer";
    i32 => as_i64, "a signed 32-bit integer";
    i64 => as_i64, "a signed 64-bit integer";
}

impl FromValue for bool {
    const EXPECTED: &'static str = "a bool";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}

impl FromValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_f64()
    }
}

impl FromValue for f32 {
    const EXPECTED: &'static str = "a number";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_f64().map(|f| f as f32)
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "a string";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
}

impl FromValue for Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: &Value) -> Option<Self> {
        if v.is_nil() {
            Some(None)
        } else {
            T::from_value(v).map(Some)
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    const EXPECTED: &'static str = "an array";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_array()?.iter().map(T::from_value).collect()
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self {
                Value::Int(i as i64)
            }
        }
    )*};
}
from_signed!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(u),
        }
    }
}

impl From<usize> for Value {
    fn from(u: usize) -> Self {
        Value::from(u as u64)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Self {
        Value::F32(f)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::F64(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bin(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bin(b.to_vec())
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Nil, Into::into)
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Nil
    }
}

//! Values across the `spin:postgres@4.2.0` boundary: WIT parameter values to
//! tokio-postgres parameters, result columns to WIT data types and values.
//!
//! The mapping follows Spin's own host so a function behaves the same on both
//! (a WIT `str` binds only to text-like parameters, `datetime` to `timestamp`,
//! `timestamp` — Unix seconds — to `timestamptz`; `timestamptz` results come
//! back as UTC `datetime`s; types without a WIT variant come back as
//! `unsupported` raw bytes). It goes beyond Spin where Spin loses data:
//! `numeric` is carried as its exact decimal text (any precision, `NaN`,
//! `±Infinity`) instead of through a 96-bit decimal, `json` reads like
//! `jsonb`, `"char"` reads as `int8`, and `name` as `str`. The binary codecs
//! for `numeric`, `interval` and the range types live here.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use crate::bindings::spin::postgres::postgres::{
    DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind,
};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// A parameter ready for tokio-postgres.
pub type SqlParam = Box<dyn ToSql + Sync + Send>;

/// Convert a guest parameter; the error names what was wrong with it.
pub fn to_sql(value: &ParameterValue) -> Result<SqlParam, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(d) => Box::new(date(*d)?),
        ParameterValue::Time(t) => Box::new(time(*t)?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date((*y, *mo, *d))?, time((*h, *mi, *s, *ns))?))
        }
        ParameterValue::Timestamp(secs) => Box::new(
            DateTime::<Utc>::from_timestamp(*secs, 0).ok_or_else(|| format!("invalid epoch timestamp {secs}"))?,
        ),
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(v).map_err(|_| format!("invalid UUID {v:?}"))?),
        ParameterValue::Jsonb(bytes) => Box::new(
            serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| format!("invalid JSON: {e}"))?,
        ),
        ParameterValue::Decimal(v) => Box::new(Numeric::parse(v)?),
        ParameterValue::RangeInt32((lo, hi)) => Box::new(Range { lower: *lo, upper: *hi }),
        ParameterValue::RangeInt64((lo, hi)) => Box::new(Range { lower: *lo, upper: *hi }),
        ParameterValue::RangeDecimal((lo, hi)) => {
            let bound = |b: &Option<(String, RangeBoundKind)>| -> Result<_, String> {
                b.as_ref().map(|(v, k)| Ok((Numeric::parse(v)?, *k))).transpose()
            };
            Box::new(Range { lower: bound(lo)?, upper: bound(hi)? })
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter().map(|d| d.as_deref().map(Numeric::parse).transpose()).collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(i) => Box::new(*i),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns).ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns}"))
}

/// The WIT data type of a result column.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

fn get<'a, T: FromSql<'a>, W>(row: &'a Row, i: usize, wrap: impl FnOnce(T) -> W) -> Result<Option<W>, String> {
    row.try_get::<_, Option<T>>(i).map(|v| v.map(wrap)).map_err(|e| format!("column {i}: {e}"))
}

/// The WIT value of column `i` of `row`.
pub fn value(row: &Row, i: usize) -> Result<DbValue, String> {
    let ty = row.columns()[i].type_();
    let value = match *ty {
        Type::BOOL => get(row, i, DbValue::Boolean)?,
        Type::CHAR => get(row, i, DbValue::Int8)?,
        Type::INT2 => get(row, i, DbValue::Int16)?,
        Type::INT4 => get(row, i, DbValue::Int32)?,
        Type::INT8 => get(row, i, DbValue::Int64)?,
        Type::FLOAT4 => get(row, i, DbValue::Floating32)?,
        Type::FLOAT8 => get(row, i, DbValue::Floating64)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, i, DbValue::Str)?,
        Type::BYTEA => get(row, i, DbValue::Binary)?,
        Type::DATE => get(row, i, |d: NaiveDate| DbValue::Date(wit_date(d)))?,
        Type::TIME => get(row, i, |t: NaiveTime| DbValue::Time(wit_time(t)))?,
        Type::TIMESTAMP => get(row, i, |t: NaiveDateTime| DbValue::Datetime(wit_datetime(t)))?,
        Type::TIMESTAMPTZ => get(row, i, |t: DateTime<Utc>| DbValue::Datetime(wit_datetime(t.naive_utc())))?,
        Type::UUID => get(row, i, |u: uuid::Uuid| DbValue::Uuid(u.to_string()))?,
        Type::JSONB | Type::JSON => get(row, i, |j: serde_json::Value| DbValue::Jsonb(j.to_string().into_bytes()))?,
        Type::NUMERIC => get(row, i, |n: Numeric| DbValue::Decimal(n.0))?,
        Type::INT4_RANGE => get(row, i, |r: Range<i32>| DbValue::RangeInt32((r.lower, r.upper)))?,
        Type::INT8_RANGE => get(row, i, |r: Range<i64>| DbValue::RangeInt64((r.lower, r.upper)))?,
        Type::NUM_RANGE => get(row, i, |r: Range<Numeric>| {
            DbValue::RangeDecimal((r.lower.map(|(n, k)| (n.0, k)), r.upper.map(|(n, k)| (n.0, k))))
        })?,
        Type::INT4_ARRAY => get(row, i, DbValue::ArrayInt32)?,
        Type::INT8_ARRAY => get(row, i, DbValue::ArrayInt64)?,
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Numeric>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|n| n.map(|n| n.0)).collect())
        })?,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => get(row, i, DbValue::ArrayStr)?,
        Type::INTERVAL => get(row, i, DbValue::Interval)?,
        _ => get(row, i, |r: Raw| DbValue::Unsupported(r.0))?,
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

fn wit_date(d: NaiveDate) -> (i32, u8, u8) {
    // Month and day always fit a u8.
    (d.year(), d.month() as u8, d.day() as u8)
}

fn wit_time(t: NaiveTime) -> (u8, u8, u8, u32) {
    (t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond())
}

fn wit_datetime(t: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = wit_date(t.date());
    let (h, mi, s, ns) = wit_time(t.time());
    (y, mo, d, h, mi, s, ns)
}

/// SQL NULL of whatever type the statement expects.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// The raw binary value of a type without a WIT variant.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }
    accepts!(INTERVAL);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw: [u8; 16] = raw.try_into().map_err(|_| "interval value is not 16 bytes")?;
        let micros = i64::from_be_bytes(raw[0..8].try_into()?);
        let days = i32::from_be_bytes(raw[8..12].try_into()?);
        let months = i32::from_be_bytes(raw[12..16].try_into()?);
        Ok(Interval { micros, days, months })
    }
    accepts!(INTERVAL);
}

/// A `numeric` as exact decimal text.
#[derive(Debug, Clone, PartialEq)]
pub struct Numeric(pub String);

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// The decoded binary form: base-10000 digits, the weight of the first one,
/// the sign word and the display scale.
struct NumericParts {
    digits: Vec<i16>,
    weight: i16,
    sign: u16,
    dscale: u16,
}

impl Numeric {
    /// Accept `[+-]digits[.digits][e[+-]n]`, `NaN`, `Infinity`, `-Infinity`.
    pub fn parse(text: &str) -> Result<Numeric, String> {
        Numeric::parts(text).map(|_| Numeric(text.trim().to_owned()))
    }

    fn parts(text: &str) -> Result<NumericParts, String> {
        let invalid = || format!("invalid decimal {text:?}");
        let t = text.trim();
        let special = |sign| Ok(NumericParts { digits: vec![], weight: 0, sign, dscale: 0 });
        match t.to_ascii_lowercase().as_str() {
            "nan" => return special(NUMERIC_NAN),
            "infinity" | "+infinity" | "inf" => return special(NUMERIC_PINF),
            "-infinity" | "-inf" => return special(NUMERIC_NINF),
            _ => {}
        }
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(at) => (&t[..at], t[at + 1..].parse::<i32>().map_err(|_| invalid())?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if exponent.abs() > 100_000 {
            return Err(invalid());
        }
        // All digits with the decimal point moved by the exponent.
        let all: String = format!("{int}{frac}");
        let point = int.len() as i64 + i64::from(exponent);
        let (int_digits, frac_digits) = if point <= 0 {
            (String::new(), format!("{}{all}", "0".repeat((-point) as usize)))
        } else if point as usize >= all.len() {
            (format!("{all}{}", "0".repeat(point as usize - all.len())), String::new())
        } else {
            (all[..point as usize].to_owned(), all[point as usize..].to_owned())
        };
        let dscale = u16::try_from(frac_digits.len()).map_err(|_| invalid())?;
        let int_digits = int_digits.trim_start_matches('0');
        let int_padded = format!("{}{int_digits}", "0".repeat((4 - int_digits.len() % 4) % 4));
        let frac_padded = format!("{frac_digits}{}", "0".repeat((4 - frac_digits.len() % 4) % 4));
        let group = |s: &str| -> Vec<i16> { s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).ok().and_then(|c| c.parse().ok()).unwrap_or(0)).collect() };
        let mut digits = group(&int_padded);
        let mut weight = digits.len() as i64 - 1;
        digits.extend(group(&frac_padded));
        while digits.first() == Some(&0) {
            digits.remove(0);
            weight -= 1;
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        let weight = i16::try_from(weight).map_err(|_| invalid())?;
        let sign = if negative && !digits.is_empty() { NUMERIC_NEG } else { NUMERIC_POS };
        Ok(NumericParts { digits, weight, sign, dscale })
    }

    fn from_parts(p: NumericParts) -> Result<Numeric, String> {
        match p.sign {
            NUMERIC_NAN => return Ok(Numeric("NaN".into())),
            NUMERIC_PINF => return Ok(Numeric("Infinity".into())),
            NUMERIC_NINF => return Ok(Numeric("-Infinity".into())),
            NUMERIC_POS | NUMERIC_NEG => {}
            other => return Err(format!("unknown numeric sign word {other:#x}")),
        }
        let digit = |i: i64| -> i16 { usize::try_from(i).ok().and_then(|i| p.digits.get(i)).copied().unwrap_or(0) };
        let weight = i64::from(p.weight);
        let mut out = String::new();
        if p.sign == NUMERIC_NEG {
            out.push('-');
        }
        if weight < 0 {
            out.push('0');
        } else {
            out.push_str(&digit(0).to_string());
            for i in 1..=weight {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
        if p.dscale > 0 {
            let mut frac = String::new();
            let mut j = 1i64;
            while frac.len() < usize::from(p.dscale) {
                frac.push_str(&format!("{:04}", digit(weight + j)));
                j += 1;
            }
            frac.truncate(usize::from(p.dscale));
            out.push('.');
            out.push_str(&frac);
        }
        Ok(Numeric(out))
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let p = Numeric::parts(&self.0)?;
        out.put_i16(i16::try_from(p.digits.len())?);
        out.put_i16(p.weight);
        out.put_u16(p.sign);
        out.put_u16(p.dscale);
        for d in p.digits {
            out.put_i16(d);
        }
        Ok(IsNull::No)
    }
    accepts!(NUMERIC);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let word = |i: usize| -> Result<[u8; 2], BoxError> {
            raw.get(i * 2..i * 2 + 2).and_then(|b| b.try_into().ok()).ok_or_else(|| "numeric value is truncated".into())
        };
        let ndigits = i16::from_be_bytes(word(0)?);
        let digits = (0..usize::try_from(ndigits)?).map(|i| word(4 + i).map(i16::from_be_bytes)).collect::<Result<_, _>>()?;
        let parts = NumericParts {
            digits,
            weight: i16::from_be_bytes(word(1)?),
            sign: u16::from_be_bytes(word(2)?),
            dscale: u16::from_be_bytes(word(3)?),
        };
        Ok(Numeric::from_parts(parts)?)
    }
    accepts!(NUMERIC);
}

/// A range with optional bounds; an empty range reads as `(None, None)`, as
/// in Spin.
#[derive(Debug)]
struct Range<T> {
    lower: Option<(T, RangeBoundKind)>,
    upper: Option<(T, RangeBoundKind)>,
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

fn range_element(ty: &Type) -> Result<&Type, BoxError> {
    match ty.kind() {
        Kind::Range(element) => Ok(element),
        _ => Err(format!("{} is not a range type", ty.name()).into()),
    }
}

fn range_accepts<T: ToSql>(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Range(element) if T::accepts(element))
}

impl<T: ToSql> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let element = range_element(ty)?;
        let mut flags = 0;
        match &self.lower {
            None => flags |= RANGE_LB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_LB_INC,
            Some(_) => {}
        }
        match &self.upper {
            None => flags |= RANGE_UB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_UB_INC,
            Some(_) => {}
        }
        out.put_u8(flags);
        for (value, _) in self.lower.iter().chain(self.upper.iter()) {
            let at = out.len();
            out.put_i32(0);
            if let IsNull::Yes = value.to_sql(element, out)? {
                return Err("a range bound cannot be NULL".into());
            }
            let len = i32::try_from(out.len() - at - 4)?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        range_accepts::<T>(ty)
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a> + ToSql> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = range_element(ty)?;
        let (&flags, mut rest) = raw.split_first().ok_or("range value is empty")?;
        if flags & RANGE_EMPTY != 0 {
            return Ok(Range { lower: None, upper: None });
        }
        let mut bound = |infinite: u8, inclusive: u8| -> Result<Option<(T, RangeBoundKind)>, BoxError> {
            if flags & infinite != 0 {
                return Ok(None);
            }
            let len: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or("range value is truncated")?;
            let len = usize::try_from(i32::from_be_bytes(len))?;
            let value = rest.get(4..4 + len).ok_or("range value is truncated")?;
            rest = &rest[4 + len..];
            let kind = if flags & inclusive != 0 { RangeBoundKind::Inclusive } else { RangeBoundKind::Exclusive };
            Ok(Some((T::from_sql(element, value)?, kind)))
        };
        let lower = bound(RANGE_LB_INF, RANGE_LB_INC)?;
        let upper = bound(RANGE_UB_INF, RANGE_UB_INC)?;
        Ok(Range { lower, upper })
    }
    fn accepts(ty: &Type) -> bool {
        range_accepts::<T>(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut buf = BytesMut::new();
        Numeric::parse(text).unwrap().to_sql(&Type::NUMERIC, &mut buf).unwrap();
        Numeric::from_sql(&Type::NUMERIC, &buf).unwrap().0
    }

    #[test]
    fn numeric_text_survives_the_binary_codec() {
        for (input, expected) in [
            ("0", "0"),
            ("-0.00", "0.00"),
            ("12345678901234567890.0123456789", "12345678901234567890.0123456789"),
            ("-7", "-7"),
            ("0.0001", "0.0001"),
            ("10000", "10000"),
            ("1.5e3", "1500"),
            ("25e-3", "0.025"),
            ("NaN", "NaN"),
            ("-Infinity", "-Infinity"),
            ("+3.10", "3.10"),
        ] {
            assert_eq!(round_trip(input), expected, "{input}");
        }
    }

    #[test]
    fn malformed_numeric_is_refused() {
        for bad in ["", "-", ".", "1.2.3", "12a", "1e", "0x10"] {
            assert!(Numeric::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_range_keeps_bound_kinds() {
        let range = Range {
            lower: Some((Numeric::parse("1.5").unwrap(), RangeBoundKind::Exclusive)),
            upper: None,
        };
        let mut buf = BytesMut::new();
        range.to_sql(&Type::NUM_RANGE, &mut buf).unwrap();
        let back = Range::<Numeric>::from_sql(&Type::NUM_RANGE, &buf).unwrap();
        assert_eq!(back.lower.map(|(n, k)| (n.0, k as u8)), Some(("1.5".to_owned(), RangeBoundKind::Exclusive as u8)));
        assert!(back.upper.is_none());
    }
}

//! Row ranges (`src/PostgREST/RangeQuery.hs`): `limit`/`offset`, the `Range`
//! request header, `db-max-rows`, and the `Content-Range` answer with its
//! 200/206/416 status.

/// Rows `lower..=upper` (no upper bound: all from `lower`). `upper < lower` is
/// empty, except `0..=-1`, which is `limit=0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lower: i64,
    pub upper: Option<i64>,
}

impl Range {
    /// Every row.
    pub fn all() -> Range {
        Range { lower: 0, upper: None }
    }

    /// From `offset` on.
    pub fn from_offset(offset: i64) -> Range {
        Range { lower: offset, upper: None }
    }

    /// `limit` rows from `offset`.
    pub fn window(offset: i64, limit: i64) -> Range {
        Range { lower: offset, upper: Some(offset.saturating_add(limit).saturating_sub(1)) }
    }

    pub fn is_all(&self) -> bool {
        *self == Range::all()
    }

    /// `limit=0`: kept as such through every intersection.
    pub fn is_limit_zero(&self) -> bool {
        self.upper == Some(-1)
    }

    pub fn is_empty(&self) -> bool {
        self.upper.is_some_and(|upper| upper < self.lower)
    }

    /// How many rows at most, when bounded.
    pub fn limit(&self) -> Option<i64> {
        self.upper.map(|upper| upper.saturating_sub(self.lower).saturating_add(1))
    }

    pub fn intersect(&self, other: &Range) -> Range {
        let upper = match (self.upper, other.upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Range { lower: self.lower.max(other.lower), upper }
    }

    /// At most `limit` rows from this range's start (`restrictRange`).
    pub fn restrict(&self, limit: Option<i64>) -> Range {
        match limit {
            None => *self,
            Some(limit) => self.intersect(&Range { lower: i64::MIN, upper: Some(self.lower.saturating_add(limit).saturating_sub(1)) }),
        }
    }

    /// `restrict` by `db-max-rows`, keeping `limit=0` as it is.
    pub fn with_max_rows(&self, max_rows: Option<i64>) -> Range {
        if self.is_limit_zero() {
            *self
        } else {
            self.restrict(max_rows)
        }
    }
}

/// The `Range` header (`0-9`, `10-`); anything else means every row.
pub fn from_header(value: Option<&str>) -> Range {
    let Some(value) = value else { return Range::all() };
    let Some((lower, upper)) = value.split_once('-') else { return Range::all() };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lower) || !(upper.is_empty() || digits(upper)) {
        return Range::all();
    }
    let Ok(lower) = lower.parse::<i64>() else { return Range::all() };
    let upper = if upper.is_empty() { None } else { upper.parse::<i64>().ok() };
    Range { lower, upper }
}

/// The `Content-Range` value for rows `lower..=upper` of `total` (`*` when unknown or empty).
pub fn content_range(lower: i64, upper: i64, total: Option<i64>) -> String {
    let rows = if total != Some(0) && lower <= upper { format!("{lower}-{upper}") } else { "*".to_owned() };
    let total = total.map(|t| t.to_string()).unwrap_or_else(|| "*".to_owned());
    format!("{rows}/{total}")
}

/// The status and `Content-Range` of a read: 206 when `total` is known and
/// larger than the page, 416 when the page starts past it.
pub fn read_status(range: &Range, page_rows: i64, total: Option<i64>) -> (u16, String) {
    let lower = range.lower;
    let upper = lower.saturating_add(page_rows).saturating_sub(1);
    let status = match total {
        None => 200,
        Some(total) if lower > total => 416,
        Some(total) if page_rows < total => 206,
        Some(_) => 200,
    };
    (status, content_range(lower, upper, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_offsets_and_headers_intersect() {
        assert_eq!(Range::all().restrict(Some(10)), Range::window(0, 10));
        assert_eq!(from_header(Some("5-9")).intersect(&Range::window(0, 7)), Range { lower: 5, upper: Some(6) });
        assert_eq!(from_header(Some("items=5-9")), Range::all());
        assert_eq!(from_header(Some("10-")), Range::from_offset(10));
        assert!(Range::all().restrict(Some(-1)).is_empty());
        assert!(Range::all().restrict(Some(0)).is_limit_zero());
    }

    #[test]
    fn extreme_numbers_saturate_instead_of_overflowing() {
        assert_eq!(Range::window(5, i64::MAX).limit(), Some(i64::MAX - 5));
        assert!(Range::all().restrict(Some(i64::MIN)).is_empty());
        assert_eq!(Range::from_offset(i64::MIN).restrict(Some(i64::MAX)).limit(), Some(i64::MAX));
        assert_eq!(read_status(&Range::from_offset(i64::MAX), 3, None).0, 200);
    }

    #[test]
    fn max_rows_caps_every_range_but_limit_zero() {
        assert_eq!(Range::from_offset(5).with_max_rows(Some(3)), Range::window(5, 3));
        assert_eq!(Range::window(0, 0).with_max_rows(Some(3)), Range::window(0, 0));
        assert_eq!(Range::window(0, 100).with_max_rows(None), Range::window(0, 100));
    }

    #[test]
    fn content_range_and_status_follow_postgrest() {
        assert_eq!(read_status(&Range::all(), 3, None), (200, "0-2/*".into()));
        assert_eq!(read_status(&Range::window(0, 2), 2, Some(5)), (206, "0-1/5".into()));
        assert_eq!(read_status(&Range::from_offset(10), 0, Some(5)), (416, "*/5".into()));
        assert_eq!(read_status(&Range::all(), 0, Some(0)), (200, "*/0".into()));
        assert_eq!(read_status(&Range::all(), 0, None), (200, "*/*".into()));
    }
}

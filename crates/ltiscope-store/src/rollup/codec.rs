//! The compact sets kept in rollup rows: ascending `u32`s as LEB128 varints of their gaps
//! (dense user and course numbers, distinct; time-in-tool milliseconds, repeats allowed), and
//! the bit set that unions them at read time.

/// Appends `values` (ascending) as varints of the gaps between them.
pub(crate) fn encode(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 2);
    put_gaps(&mut out, values);
    out
}

/// Appends `v` as a LEB128 varint (seven bits a byte, low bits first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `values` (ascending) as varints of the gaps between them, without a count.
pub(crate) fn put_gaps(out: &mut Vec<u8>, values: &[u32]) {
    let mut prev = 0u32;
    for &v in values {
        put_varint(out, u64::from(v.wrapping_sub(prev)));
        prev = v;
    }
}

/// Reads what [`put_varint`] and [`put_gaps`] wrote, front to back. A truncated or corrupt
/// blob (only a damaged database holds one) reads as ending early: `None`.
pub(crate) struct Varints<'a> {
    blob: &'a [u8],
    at: usize,
}

impl<'a> Varints<'a> {
    pub(crate) fn new(blob: &'a [u8]) -> Self {
        Varints { blob, at: 0 }
    }

    /// The next varint.
    pub(crate) fn next(&mut self) -> Option<u64> {
        // Most values (counts, gaps, positions) fit one byte.
        let first = *self.blob.get(self.at)?;
        if first < 0x80 {
            self.at += 1;
            return Some(u64::from(first));
        }
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *self.blob.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    /// Steps over the next `n` varints (a varint ends with a byte below 0x80).
    pub(crate) fn skip(&mut self, n: u64) -> Option<()> {
        let mut left = n;
        while left > 0 {
            let b = *self.blob.get(self.at)?;
            self.at += 1;
            if b < 0x80 {
                left -= 1;
            }
        }
        Some(())
    }

    /// The next `n` gap-encoded values, appended to `out`.
    pub(crate) fn gaps_into(&mut self, n: u64, out: &mut Vec<u32>) -> Option<()> {
        let mut prev = 0u32;
        for _ in 0..n {
            prev = prev.wrapping_add(u32::try_from(self.next()?).ok()?);
            out.push(prev);
        }
        Some(())
    }
}

/// The values of an [`encode`]d set, in order: the plain reference decoder the fast
/// [`decode_into`] is tested against. A truncated or corrupt blob ends early rather
/// than panicking (it can only come from a damaged database).
#[cfg(test)]
pub(crate) fn decode(blob: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let mut i = 0;
    let mut prev = 0u32;
    std::iter::from_fn(move || {
        let mut gap = 0u32;
        let mut shift = 0;
        loop {
            let byte = *blob.get(i)?;
            i += 1;
            gap |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        prev = prev.wrapping_add(gap);
        Some(prev)
    })
}

/// A growable set of `u32`s, one bit each: the union of many rollup sets, then its size.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bits(Vec<u64>);

/// Appends the values of an [`encode`]d set to `out`, as [`decode`] gives them (the hot loop
/// of rollup answers: millions of values per report, so the common one- and two-byte gaps
/// take a short path). A truncated or corrupt blob ends early.
pub(crate) fn decode_into(blob: &[u8], out: &mut Vec<u32>) {
    let mut i = 0;
    let mut prev = 0u32;
    while let Some(&b0) = blob.get(i) {
        let gap = if b0 < 0x80 {
            i += 1;
            u32::from(b0)
        } else if let Some(&b1) = blob.get(i + 1).filter(|b| **b < 0x80) {
            i += 2;
            u32::from(b0 & 0x7f) | (u32::from(b1) << 7)
        } else {
            // Longer gaps: the general decoder, from here.
            let mut gap = 0u32;
            let mut shift = 0;
            loop {
                let Some(&b) = blob.get(i) else { return };
                i += 1;
                let Some(part) = u32::from(b & 0x7f).checked_shl(shift) else {
                    return;
                };
                gap |= part;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            gap
        };
        prev = prev.wrapping_add(gap);
        out.push(prev);
    }
}

impl Bits {
    /// Adds every value.
    pub(crate) fn add_all(&mut self, values: &[u32]) {
        let Some(&max) = values.iter().max() else {
            return;
        };
        let words = (max >> 6) as usize + 1;
        if words > self.0.len() {
            // Grow in steps, not one word at a time.
            self.0.resize(words.max(self.0.len() * 2), 0);
        }
        for &v in values {
            if let Some(w) = self.0.get_mut((v >> 6) as usize) {
                *w |= 1 << (v & 63);
            }
        }
    }

    /// How many distinct values were added.
    pub(crate) fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// Sorts `values` ascending and drops repeats: the form [`encode`] takes for sets of people.
pub(crate) fn distinct(values: &mut Vec<u32>) {
    values.sort_unstable();
    values.dedup();
}

/// The interpolated `p` quantile (0..1) of `values` divided by `scale`, as SQL's
/// `quantile_cont` and `percentile_cont` compute it over the scaled values (so milliseconds
/// give the very seconds the SQL gives); reorders `values`.
pub(crate) fn quantile_cont(values: &mut [u32], p: f64, scale: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let pos = p.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut at_lo, above) = values.select_nth_unstable(lo);
    let at_lo = f64::from(at_lo) / scale;
    let frac = pos - lo as f64;
    if frac == 0.0 {
        return Some(at_lo);
    }
    let at_hi = above
        .iter()
        .copied()
        .min()
        .map_or(at_lo, |v| f64::from(v) / scale);
    Some(at_lo + frac * (at_hi - at_lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip_through_the_encoding() {
        let cases: [&[u32]; 5] = [
            &[],
            &[0],
            &[1, 2, 3, 200, 20_000, 4_000_000_000],
            &[5, 5, 5, 7],
            &[u32::MAX],
        ];
        for values in cases {
            let back: Vec<u32> = decode(&encode(values)).collect();
            assert_eq!(back, values);
        }
    }

    #[test]
    fn a_truncated_blob_ends_early_instead_of_panicking() {
        let blob = encode(&[1, 300, 70_000]);
        for cut in 0..blob.len() {
            let got: Vec<u32> = decode(&blob[..cut]).collect();
            assert!(got.len() < 3, "cut at {cut}: {got:?}");
        }
        assert_eq!(decode(&[0xff; 12]).count(), 0, "an endless varint");
    }

    #[test]
    fn bits_count_the_union() {
        let mut bits = Bits::default();
        bits.add_all(&[1, 2, 64, 1000]);
        bits.add_all(&[2, 64, 65, 99_999]);
        bits.add_all(&[]);
        assert_eq!(bits.count(), 6);
        assert_eq!(Bits::default().count(), 0);
    }

    #[test]
    fn decode_into_reads_every_gap_length_as_decode_does() {
        // Gaps of one to five bytes, mixed, then every truncation of the blob.
        let values = [
            0, 5, 127, 128, 16_383, 16_384, 16_385, 2_097_151, 2_097_152, 3_000_000,
        ];
        let blob = encode(&values);
        for cut in 0..=blob.len() {
            let mut fast = Vec::new();
            decode_into(&blob[..cut], &mut fast);
            let expected: Vec<u32> = decode(&blob[..cut]).collect();
            assert_eq!(fast, expected, "cut at {cut}");
        }
        let mut endless = Vec::new();
        decode_into(&[0xff; 12], &mut endless);
        assert!(endless.is_empty(), "an endless varint");
    }

    #[test]
    fn quantiles_interpolate_as_sql_does() {
        // quantile_cont([10, 20, 30, 40], 0.5) = 25; 0.9 -> 37; one value -> itself.
        assert_eq!(quantile_cont(&mut [40, 10, 30, 20], 0.5, 1.0), Some(25.0));
        let p90 = quantile_cont(&mut [40, 10, 30, 20], 0.9, 1.0).unwrap_or_default();
        assert!((p90 - 37.0).abs() < 1e-9, "{p90}");
        assert_eq!(quantile_cont(&mut [7], 0.9, 1.0), Some(7.0));
        assert_eq!(quantile_cont(&mut [], 0.5, 1.0), None);
        assert_eq!(quantile_cont(&mut [3, 1, 2], 0.5, 1.0), Some(2.0));
        assert_eq!(quantile_cont(&mut [868_458], 0.5, 1000.0), Some(868.458));
    }
}

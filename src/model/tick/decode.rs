//! Decoding records into ticks: the producer's own JSON by a parser for exactly that shape, anything
//! else by simd-json. The fast path reads `{"symbol":"…","seq":N,"ts_ns":N,"price":X,"bid":X,
//! "ask":X,"size":N}` (whitespace after it allowed, as `rate.record_size` pads) into a tick whose
//! symbol buffer is reused: no tree, no allocation per record. Whatever it does not recognise
//! (other field orders, escapes, exponents, whitespace inside) goes to simd-json, which decides.

use super::{DecodeError, Tick};

/// Decodes records into one reused tick.
#[derive(Debug)]
pub struct TickDecoder {
    tick: Tick,
    /// simd-json parses in place: the fallback's copy of the record.
    scratch: Vec<u8>,
}

impl Default for TickDecoder {
    fn default() -> Self {
        TickDecoder {
            tick: Tick {
                symbol: String::with_capacity(16),
                seq: 0,
                ts_ns: 0,
                price: 0.0,
                bid: 0.0,
                ask: 0.0,
                size: 0,
            },
            scratch: Vec::with_capacity(512),
        }
    }
}

impl TickDecoder {
    /// The tick in `payload`, valid until the next call.
    #[inline]
    pub fn decode(&mut self, payload: &[u8]) -> Result<&Tick, DecodeError> {
        if own(payload, &mut self.tick).is_none() {
            self.tick = super::decode_payload(payload, &mut self.scratch)?;
        }
        Ok(&self.tick)
    }
}

/// Reads the producer's exact shape into `t`; None (with `t` partly written) for anything else.
#[inline]
fn own(p: &[u8], t: &mut Tick) -> Option<()> {
    let end = p
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    let mut r = Reader(p[..=end].strip_prefix(b"{\"symbol\":\"")?);
    let q = r.0.iter().position(|b| *b == b'"')?;
    let sym = &r.0[..q];
    // A ticker needs no escaping; anything else (a backslash, control bytes, non-ASCII) is
    // simd-json's to decode.
    if sym.is_empty() || !sym.iter().all(|b| b.is_ascii_graphic() && *b != b'\\') {
        return None;
    }
    t.symbol.clear();
    // All ASCII, checked above.
    t.symbol.push_str(std::str::from_utf8(sym).ok()?);
    r.0 = &r.0[q..];
    r.tag(b"\",\"seq\":")?;
    t.seq = r.uint()?;
    r.tag(b",\"ts_ns\":")?;
    t.ts_ns = r.uint()?;
    r.tag(b",\"price\":")?;
    t.price = r.float()?;
    r.tag(b",\"bid\":")?;
    t.bid = r.float()?;
    r.tag(b",\"ask\":")?;
    t.ask = r.float()?;
    r.tag(b",\"size\":")?;
    t.size = u32::try_from(r.uint()?).ok()?;
    (r.0 == b"}").then_some(())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    #[inline]
    fn tag(&mut self, tag: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(tag)?;
        Some(())
    }

    /// A JSON unsigned integer (no leading zeros, no sign, no fraction) that fits in u64.
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let s = self.0;
        let (mut v, mut n) = (0u64, 0);
        while let Some(d) = digit(s, n) {
            // 19 digits cannot overflow; a 20th is checked below.
            v = v.wrapping_mul(10).wrapping_add(d);
            n += 1;
        }
        if n == 0 || n > 20 || (n > 1 && s[0] == b'0') {
            return None;
        }
        if n == 20 {
            let head = s[..19].iter().fold(0u64, |a, d| a * 10 + (d - b'0') as u64);
            v = head.checked_mul(10)?.checked_add(digit(s, 19)?)?;
        }
        self.0 = &s[n..];
        Some(v)
    }

    /// A JSON number as the nearest double. Up to 15 significant digits and no exponent, the
    /// digits as an integer divided by a power of ten is exact-correctly rounded (both are exact
    /// doubles and IEEE division rounds once: Clinger's fast path); the rest goes to the
    /// standard library's correctly rounded parser.
    #[inline]
    fn float(&mut self) -> Option<f64> {
        let s = self.0;
        let neg = s.first() == Some(&b'-');
        let start = neg as usize;
        let (mut m, mut i) = (0u64, start);
        // Past 15 digits m may wrap: it is not used then.
        while let Some(d) = digit(s, i) {
            m = m.wrapping_mul(10).wrapping_add(d);
            i += 1;
        }
        let int = i - start;
        if int == 0 || (int > 1 && s[start] == b'0') {
            return None;
        }
        let mut frac = 0;
        if s.get(i) == Some(&b'.') {
            i += 1;
            while let Some(d) = digit(s, i) {
                m = m.wrapping_mul(10).wrapping_add(d);
                i += 1;
                frac += 1;
            }
            if frac == 0 {
                return None;
            }
        }
        let exponent = matches!(s.get(i), Some(b'e' | b'E'));
        if exponent {
            let sign = matches!(s.get(i + 1), Some(b'+' | b'-')) as usize;
            let mut n = 0;
            while digit(s, i + 1 + sign + n).is_some() {
                n += 1;
            }
            if n == 0 {
                return None;
            }
            i += 1 + sign + n;
        }
        let v = if !exponent && int + frac <= 15 {
            let v = m as f64 / POW10[frac];
            if neg {
                -v
            } else {
                v
            }
        } else {
            std::str::from_utf8(&s[..i]).ok()?.parse::<f64>().ok()?
        };
        self.0 = &s[i..];
        Some(v)
    }
}

/// The digit at `i`, if there is one.
#[inline(always)]
fn digit(s: &[u8], i: usize) -> Option<u64> {
    let d = s.get(i)?.wrapping_sub(b'0');
    (d <= 9).then_some(d as u64)
}

/// 10^0 to 10^15, each exact as a double.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn via_simd(p: &[u8]) -> Option<Tick> {
        super::super::decode_payload(p, &mut Vec::new()).ok()
    }

    fn check(p: &[u8]) {
        let mut t = TickDecoder::default();
        let ours = t.decode(p).ok().cloned();
        let theirs = via_simd(p);
        assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(p));
        // Whether the fast path took it or not, the result is simd-json's.
        let mut raw = TickDecoder::default().tick;
        if own(p, &mut raw).is_some() {
            assert_eq!(Some(raw), theirs, "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn the_producers_records_take_the_fast_path_and_read_as_simd_json_reads_them() {
        let t = Tick {
            symbol: "BRK.B".into(),
            seq: 18_446_744_073_709_551_615,
            ts_ns: 1_795_319_090_123_456_789,
            price: 101.25,
            bid: 0.0001,
            ask: 123456.789,
            size: u32::MAX,
        };
        let mut p = Vec::new();
        t.encode_json(&mut p);
        let mut raw = TickDecoder::default().tick;
        assert!(own(&p, &mut raw).is_some());
        assert_eq!(raw, t);
        // Padded as rate.record_size pads.
        p.resize(1024, b' ');
        assert!(own(&p, &mut raw).is_some());
        assert_eq!(raw, t);
        check(&p);
    }

    #[test]
    fn everything_else_is_simd_jsons_to_decide() {
        for p in [
            &br#"{"seq":1,"symbol":"A","ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#[..],
            br#"{"symbol":"A\u0042","seq":1,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":1.5e2,"bid":-1.4E-3,"ask":16,"size":3}"#,
            br#"{"symbol":"A","seq":01,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":1.,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":4294967296}"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3} x"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":0.30000000000000004,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"A","seq":1,"ts_ns":2,"price":123456789012345678,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{ "symbol":"A","seq":1,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"","seq":1,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#,
            br#"{"symbol":"A","seq":99999999999999999999,"ts_ns":2,"price":1.5,"bid":1.4,"ask":1.6,"size":3}"#,
            b"not a tick",
            b"",
        ] {
            check(p);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_tick_reads_back_as_simd_json_reads_it(
            sym in "[A-Z0-9.-]{1,8}",
            seq: u64, ts_ns: u64, size: u32,
            k in 0u64..1u64 << 53, d in 0u32..8, price: f64, neg: bool,
        ) {
            // Grid prices of every scale, and arbitrary doubles (ryu's shortest form).
            let grid = k as f64 / 10f64.powi(d as i32) * if neg { -1.0 } else { 1.0 };
            let t = Tick { symbol: sym, seq, ts_ns, price: grid, bid: if price.is_finite() { price } else { 0.0 }, ask: grid / 3.0, size };
            let mut p = Vec::new();
            t.encode_json(&mut p);
            check(&p);
            let mut dec = TickDecoder::default();
            proptest::prop_assert_eq!(dec.decode(&p).unwrap(), &t);
        }
    }
}

//! A small fixed-buffer writer for the tick's JSON: digits written in place two at a time, grid
//! prices as decimals, one copy into the caller's buffer at the end. The producer calls it for
//! every tick, so it must cost tens of nanoseconds and allocate nothing.

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Longest tick: 12-byte symbol, three 20-digit integers, three prices, keys and punctuation.
pub const MAX_LEN: usize = 256;

pub struct Writer {
    buf: [u8; MAX_LEN],
    len: usize,
}

/// Number of decimal digits of `v` (at least 1).
#[inline]
fn digits(v: u64) -> usize {
    let mut n = 1;
    let mut x = v;
    while x >= 10_000 {
        x /= 10_000;
        n += 4;
    }
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    n
}

impl Writer {
    #[inline]
    pub fn new() -> Writer {
        Writer {
            buf: [0; MAX_LEN],
            len: 0,
        }
    }

    #[inline]
    pub fn bytes(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Writes exactly `width` digits of `v` (the low ones), right to left, two at a time.
    #[inline]
    fn digits_into(&mut self, mut v: u64, width: usize) {
        let mut end = self.len + width;
        while end - self.len >= 2 {
            let pair = (v % 100) as usize * 2;
            v /= 100;
            self.buf[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
            end -= 2;
        }
        if end > self.len {
            self.buf[end - 1] = b'0' + (v % 10) as u8;
        }
        self.len += width;
    }

    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.digits_into(v, digits(v));
    }

    /// `k / 10^d` as the shortest decimal: `12.5`, `7.0`, `0.0001`.
    #[inline]
    pub fn decimal(&mut self, mut k: u64, d: u32) {
        let scale = 10u64.pow(d);
        let int = k / scale;
        self.u64(int);
        self.byte(b'.');
        let mut frac = k - int * scale;
        if frac == 0 {
            self.byte(b'0');
            return;
        }
        let mut width = d as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        k = frac;
        self.digits_into(k, width);
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_decimals() {
        for v in [
            0u64,
            7,
            10,
            99,
            100,
            12345,
            u64::MAX,
            1_000_000_000_000_000_000,
        ] {
            let mut w = Writer::new();
            w.u64(v);
            assert_eq!(std::str::from_utf8(w.as_slice()).unwrap(), v.to_string());
        }
        for (k, d, want) in [
            (1250u64, 2u32, "12.5"),
            (700, 2, "7.0"),
            (1, 4, "0.0001"),
            (123456, 3, "123.456"),
            (5, 0, "5.0"),
        ] {
            let mut w = Writer::new();
            w.decimal(k, d);
            assert_eq!(std::str::from_utf8(w.as_slice()).unwrap(), want);
        }
    }
}

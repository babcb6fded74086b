//! A stage's closed one-second intervals, kept out of memory: each is appended, compressed, to an
//! unnamed temporary file (the OS deletes it when it is closed), so an eight-hour run holds no more
//! of them in memory than a one-minute one. The interval log is written from it at the end.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

/// Records of (second since run start, V2-deflate histogram), in the order they closed.
#[derive(Default)]
pub(super) enum Spool {
    /// Nothing closed yet (no file made for a stage that never records).
    #[default]
    Empty,
    File(BufWriter<File>),
    /// Where no temporary file could be made: kept in memory, as before.
    Memory(Vec<u8>),
}

/// Reads a file from `pos` on without moving its offset, which later appends use.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Spool {
    pub(super) fn push(&mut self, sec: u64, encoded: &[u8]) -> io::Result<()> {
        if matches!(self, Spool::Empty) {
            *self = match tempfile::tempfile() {
                Ok(f) => Spool::File(BufWriter::new(f)),
                Err(e) => {
                    tracing::warn!("no temporary file for the interval logs ({e}): kept in memory");
                    Spool::Memory(Vec::new())
                }
            };
        }
        let len = u32::try_from(encoded.len()).map_err(io::Error::other)?;
        let w: &mut dyn Write = match self {
            Spool::File(w) => w,
            Spool::Memory(v) => v,
            Spool::Empty => unreachable!("made above"),
        };
        w.write_all(&sec.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(encoded)
    }

    /// Calls `each` with every record pushed so far, one at a time, in order.
    pub(super) fn for_each(
        &mut self,
        mut each: impl FnMut(u64, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut r: Box<dyn Read + '_> = match self {
            Spool::Empty => return Ok(()),
            Spool::File(w) => {
                w.flush()?;
                Box::new(BufReader::new(At {
                    file: w.get_ref(),
                    pos: 0,
                }))
            }
            Spool::Memory(v) => Box::new(&v[..]),
        };
        let mut head = [0u8; 12];
        let mut body = Vec::new();
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let sec = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(head[8..].try_into().expect("4 bytes")) as usize;
            body.resize(len, 0);
            r.read_exact(&mut body)?;
            each(sec, &body)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_appending_goes_on_after_a_read() {
        let mut s = Spool::default();
        s.for_each(|_, _| panic!("nothing pushed")).unwrap();
        s.push(3, b"abc").unwrap();
        s.push(4, &[7u8; 70_000]).unwrap();
        assert!(matches!(s, Spool::File(_)));
        let mut seen = Vec::new();
        s.for_each(|sec, b| {
            seen.push((sec, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(3, 3), (4, 70_000)]);
        s.push(5, b"").unwrap();
        seen.clear();
        s.for_each(|sec, b| {
            seen.push((sec, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(3, 3), (4, 70_000), (5, 0)]);
    }
}

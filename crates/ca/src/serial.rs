//! Certificate serial numbers (BR 7.1.2.7; MRSP 5.2; CA-RULES "Serial numbers").
//!
//! One fixed non-zero prefix byte (0x5a, top bit clear so the INTEGER is positive and
//! never needs a leading zero) followed by 16 bytes (128 bits) from the OS CSPRNG:
//! 17 bytes, always positive, always < 2^159, never sequential. Uniqueness per issuer is
//! enforced by the store, which records the serial before anything is signed.

use crate::CaError;

/// The fixed first byte.
const PREFIX: u8 = 0x5a;
/// Random bytes after the prefix.
const RANDOM_BYTES: usize = 16;

/// A serial number of 17 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial([u8; 1 + RANDOM_BYTES]);

impl Serial {
    /// Draws a new serial from the OS CSPRNG.
    pub fn random() -> Result<Serial, CaError> {
        let mut b = [0u8; 1 + RANDOM_BYTES];
        b[0] = PREFIX;
        crate::random_bytes(&mut b[1..])?;
        Ok(Serial(b))
    }
    /// The big-endian bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// Lower-case hex, as stored and shown.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
    /// Parses stored hex.
    pub fn from_hex(s: &str) -> Option<Serial> {
        let v = hex::decode(s).ok()?;
        Some(Serial(v.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CA-RULES serials: positive, ≥ 64 random bits, < 2^159, non-sequential.
    #[test]
    fn serials_are_positive_random_and_short_enough() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = Serial::random().unwrap_or(Serial([0; 17]));
            assert_eq!(s.bytes().len(), 17);
            assert!(s.bytes()[0] & 0x80 == 0, "positive without padding");
            assert!(s.bytes()[0] != 0, "no leading zero byte");
            // 17 bytes = 136 bits < 159 bits.
            assert!(seen.insert(s), "collision");
            assert_eq!(Serial::from_hex(&s.hex()), Some(s));
        }
    }
}

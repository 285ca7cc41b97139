//! One-time codes that staff hand to a person: invitations and password resets.
//!
//! A code is 16 characters of Crockford's base32 (80 random bits), shown in groups of four. It
//! is read aloud or typed from a note, so case, spaces and dashes are ignored and the letters
//! that look like digits (`O`, `I`, `L`) are read as the digits. Only a SHA-256 of the normalised
//! code is stored: 80 random bits cannot be found from the hash by guessing, and sign-in
//! throttling limits guessing against the server.

use rand::RngCore;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LENGTH: usize = 16;
const GROUP: usize = 4;

/// A new code: as shown to staff, and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    let mut bytes = [0u8; LENGTH];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 256 is a multiple of 32: taking each byte modulo 32 is uniform.
    let plain: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    let shown = plain
        .as_bytes()
        .chunks(GROUP)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let hash = digest(&plain);
    (shown, hash)
}

/// The stored form of a code as typed; `None` when it cannot be a code at all.
pub fn digest_typed(typed: &str) -> Option<Vec<u8>> {
    let mut normal = String::with_capacity(LENGTH);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        normal.push(c);
    }
    (normal.len() == LENGTH).then(|| digest(&normal))
}

fn digest(normal: &str) -> Vec<u8> {
    Sha256::digest(normal.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_typed_loosely_matches_the_one_shown() {
        let (shown, hash) = generate();
        assert_eq!(shown.len(), 19);
        assert_eq!(digest_typed(&shown), Some(hash.clone()));
        let loose = shown
            .to_lowercase()
            .replace('-', " ")
            .replace('0', "o")
            .replace('1', "l");
        assert_eq!(digest_typed(&loose), Some(hash));
    }

    #[test]
    fn anything_else_is_not_a_code() {
        assert_eq!(digest_typed("too-short"), None);
        assert_eq!(
            digest_typed("K7QD-2M9X-PB4T-WZ8U"),
            None,
            "U is not in the alphabet"
        );
        assert_eq!(digest_typed("K7QD-2M9X-PB4T-WZ8H-EXTRA"), None);
        assert_eq!(digest_typed("ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ"), None);
    }
}

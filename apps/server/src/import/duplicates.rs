//! The same key twice in one file, found in memory that does not grow with
//! the file: a Bloom filter of the keys read (a fixed 16 MiB) names the
//! rows whose key *may* have come before; only those keys are kept, and a
//! second read of the file at the end of the check finds every line of
//! each (so a real duplicate is reported with the line it repeats, and a
//! false alarm of the filter, about one row in 40,000 at 4.2 million rows,
//! costs nothing but that read).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::source::RowError;

/// Bits of the filter: 2^27 (16 MiB).
const FILTER_BITS: u64 = 1 << 27;
/// Bits set per key.
const HASHES: u64 = 6;

/// The keys read so far, and those that may repeat one.
pub struct KeysRead {
    bits: Vec<u64>,
    /// Key → the lines where it may repeat an earlier one.
    suspects: HashMap<String, Vec<u64>>,
}

impl Default for KeysRead {
    fn default() -> Self {
        KeysRead {
            bits: vec![0; (FILTER_BITS / 64) as usize],
            suspects: HashMap::new(),
        }
    }
}

fn hash_of(key: &str, seed: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

impl KeysRead {
    /// Notes `key` read on `line`; remembers it when the filter says it
    /// may have been read before.
    pub fn read(&mut self, key: &str, line: u64) {
        let (first, step) = (hash_of(key, 0), hash_of(key, 1) | 1);
        let mut all_set = true;
        for n in 0..HASHES {
            let bit = first.wrapping_add(n.wrapping_mul(step)) % FILTER_BITS;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            all_set &= self.bits[word] & mask != 0;
            self.bits[word] |= mask;
        }
        if all_set {
            self.suspects.entry(key.to_owned()).or_default().push(line);
        }
    }

    /// Whether some key may repeat: the file must be read again to know.
    pub fn has_suspects(&self) -> bool {
        !self.suspects.is_empty()
    }

    /// The keys that may repeat, to be found again in the second read.
    pub fn into_suspects(self) -> Confirmation {
        Confirmation {
            lines: self
                .suspects
                .into_keys()
                .map(|key| (key, Vec::new()))
                .collect(),
        }
    }
}

/// The second read: every line of each suspected key.
pub struct Confirmation {
    lines: HashMap<String, Vec<u64>>,
}

impl Confirmation {
    /// Notes `key` read on `line`, if it is suspected.
    pub fn read(&mut self, key: &str, line: u64) {
        if let Some(lines) = self.lines.get_mut(key) {
            lines.push(line);
        }
    }

    /// A bad row for every line repeating an earlier line's key, described
    /// by `describe(key, first_line)`.
    pub fn duplicates(self, describe: impl Fn(&str, u64) -> String) -> Vec<RowError> {
        let mut errors = Vec::new();
        for (key, lines) in self.lines {
            if let Some((first, rest)) = lines.split_first() {
                errors.extend(rest.iter().map(|line| RowError {
                    line: *line,
                    message: describe(&key, *first),
                }));
            }
        }
        errors.sort_by_key(|error| error.line);
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::KeysRead;

    #[test]
    fn a_repeated_key_is_found_with_the_line_it_repeats() {
        let mut keys = KeysRead::default();
        for line in 0..10_000u64 {
            keys.read(&format!("key {line}"), line + 2);
        }
        keys.read("key 17", 20_000);
        keys.read("key 17", 20_001);
        assert!(keys.has_suspects());
        let mut again = keys.into_suspects();
        for line in 0..10_000u64 {
            again.read(&format!("key {line}"), line + 2);
        }
        again.read("key 17", 20_000);
        again.read("key 17", 20_001);
        let errors = again.duplicates(|key, first| format!("{key} as line {first}"));
        let lines: Vec<(u64, String)> = errors.into_iter().map(|e| (e.line, e.message)).collect();
        assert_eq!(
            lines,
            vec![
                (20_000, "key 17 as line 19".to_owned()),
                (20_001, "key 17 as line 19".to_owned())
            ]
        );
    }

    #[test]
    fn distinct_keys_raise_no_alarm_at_a_large_file_s_count() {
        let mut keys = KeysRead::default();
        for line in 0..200_000u64 {
            keys.read(&format!("pen {} voter {}", line / 600, line % 600), line);
        }
        assert!(!keys.has_suspects());
    }
}

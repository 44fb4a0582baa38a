//! Text as people at the stations write it, and as a search finds it
//! (PROTOCOL.md §5): the spellings of one Arabic name folded together,
//! Arabic-Indic digits read as 0–9, runs of spaces as one.

/// Arabic-Indic (٠–٩) and Eastern Arabic-Indic (۰–۹) digits as 0–9: a
/// voter number or a year read off a card or typed on an Arabic keyboard.
pub fn western_digits(text: &str) -> String {
    text.chars().map(western_digit).collect()
}

fn western_digit(c: char) -> char {
    match c {
        '\u{660}'..='\u{669}' => char::from(b'0' + (c as u32 - 0x660) as u8),
        '\u{6f0}'..='\u{6f9}' => char::from(b'0' + (c as u32 - 0x6f0) as u8),
        c => c,
    }
}

/// Folds the spellings of one name together: alef forms to bare alef, taa
/// marbuta to haa, alef maqsura to yaa, diacritics and tatweel dropped,
/// Arabic-Indic digits as 0–9, other letters lower-cased, runs of white
/// space as one space, none at either end.
pub fn fold(text: &str) -> String {
    let folded: String = text
        .chars()
        .filter_map(|c| match c {
            // harakat, tanween, shadda, sukun, superscript alef; tatweel
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => None,
            'أ' | 'إ' | 'آ' | 'ٱ' => Some('ا'),
            'ة' => Some('ه'),
            'ى' => Some('ي'),
            other => Some(western_digit(other)),
        })
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words a search matches text by: its [`fold`], split at white space.
pub fn search_terms(text: &str) -> Vec<String> {
    fold(text)
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Digits in a run of a key are padded to this width, so that keys sort in
/// the order people count (`9` before `10`).
const NATURAL_WIDTH: usize = 12;

/// A key that sorts folded text in natural order: each run of digits
/// left-padded with zeros, so `voter 9` sorts before `voter 10`.
pub fn natural_order_key(text: &str) -> String {
    let folded = fold(text);
    let mut key = String::with_capacity(folded.len() + NATURAL_WIDTH);
    let mut digits = String::new();
    for c in folded.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            key.push_str(&format!("{digits:0>NATURAL_WIDTH$}"));
            digits.clear();
        }
        if c != '\0' {
            key.push(c);
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::{fold, natural_order_key, search_terms, western_digits};

    #[test]
    fn arabic_indic_digits_read_as_western() {
        assert_eq!(western_digits("١٠٠٢"), "1002");
        assert_eq!(western_digits("۱۲۳"), "123");
        assert_eq!(western_digits("A-17"), "A-17");
    }

    #[test]
    fn spellings_of_one_name_meet() {
        assert_eq!(fold("أحمد"), fold("احمد"));
        assert_eq!(fold("إيمان"), fold("ايمان"));
        assert_eq!(fold("فاطمة"), fold("فاطمه"));
        assert_eq!(fold("مصطفى"), fold("مصطفي"));
        assert_eq!(fold("مُحَمَّد"), fold("محمد"));
        assert_eq!(fold("محـــمد"), fold("محمد"));
        assert_eq!(fold("Sara"), "sara");
        assert_eq!(fold("  محمد \t  علي "), "محمد علي");
        assert_eq!(fold("١٢٣"), "123");
    }

    #[test]
    fn terms_are_the_folded_words() {
        assert_eq!(search_terms(" أحمد   عليّ "), vec!["احمد", "علي"]);
        assert!(search_terms("   ").is_empty());
    }

    #[test]
    fn keys_sort_numbers_as_people_count() {
        let mut numbers = vec!["10", "9", "١٠٠", "A-2", "A-10"];
        numbers.sort_by_key(|number| natural_order_key(number));
        assert_eq!(numbers, ["9", "10", "١٠٠", "A-2", "A-10"]);
    }
}

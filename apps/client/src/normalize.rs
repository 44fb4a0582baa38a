//! Arabic-aware text normalisation for searching names.

/// Folds the spellings of one Arabic name together: alef forms to bare
/// alef, taa marbuta to haa, alef maqsura to yaa, diacritics and tatweel
/// dropped; other letters lower-cased.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            // harakat, tanween, shadda, sukun, superscript alef; tatweel
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => None,
            'أ' | 'إ' | 'آ' | 'ٱ' => Some('ا'),
            'ة' => Some('ه'),
            'ى' => Some('ي'),
            other => Some(other),
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Arabic-Indic (٠–٩) and Eastern Arabic-Indic (۰–۹) digits as 0–9.
pub fn western_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{660}'..='\u{669}' => char::from(b'0' + (c as u32 - 0x660) as u8),
            '\u{6f0}'..='\u{6f9}' => char::from(b'0' + (c as u32 - 0x6f0) as u8),
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn spellings_of_one_name_meet() {
        assert_eq!(normalize("أحمد"), normalize("احمد"));
        assert_eq!(normalize("إيمان"), normalize("ايمان"));
        assert_eq!(normalize("فاطمة"), normalize("فاطمه"));
        assert_eq!(normalize("مصطفى"), normalize("مصطفي"));
        assert_eq!(normalize("مُحَمَّد"), normalize("محمد"));
        assert_eq!(normalize("محـــمد"), normalize("محمد"));
        assert_eq!(normalize("Sara"), "sara");
    }

    #[test]
    fn arabic_indic_digits_read_as_western() {
        assert_eq!(super::western_digits("١٠٠٢"), "1002");
        assert_eq!(super::western_digits("۱۲۳"), "123");
        assert_eq!(super::western_digits("A-17"), "A-17");
    }
}

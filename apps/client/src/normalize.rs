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
}

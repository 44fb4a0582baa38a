//! Text as people at the stations write it.

/// Arabic-Indic (٠–٩) and Eastern Arabic-Indic (۰–۹) digits as 0–9: a
/// voter number or a year read off a card or typed on an Arabic keyboard.
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
    #[test]
    fn arabic_indic_digits_read_as_western() {
        assert_eq!(super::western_digits("١٠٠٢"), "1002");
        assert_eq!(super::western_digits("۱۲۳"), "123");
        assert_eq!(super::western_digits("A-17"), "A-17");
    }
}

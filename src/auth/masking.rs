//! Masking rules for personal data, after common practice at Chinese banks
//! (docs/domain.md#masking). Each rule keeps enough to recognise a record in front of
//! the customer and never enough to use it: the birth date inside an ID number is
//! always hidden.

/// `张三丰` → `张**`: the surname stays. Corporate names keep their first two
/// characters.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        n if n > 6 => format!(
            "{}{}",
            chars[..2].iter().collect::<String>(),
            "*".repeat(n - 2)
        ),
        n => format!("{}{}", chars[0], "*".repeat(n - 1)),
    }
}

/// Resident ID `110101199003071234` → `110***********1234`: region kept, birth date hidden.
pub fn mask_id_number(id: &str) -> String {
    keep_ends(id, 3, 4)
}

/// `13812345678` → `138****5678`.
pub fn mask_mobile(mobile: &str) -> String {
    keep_ends(mobile, 3, 4)
}

/// Card or account number: BIN and last four, `622848******6789`.
pub fn mask_number(number: &str) -> String {
    keep_ends(number, 6, 4)
}

/// `dong.li@126.com` → `d***@126.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => keep_ends(email, 1, 0),
    }
}

/// Address down to the district: `上海市浦东新区世纪大道100号` → `上海市浦东新区****`.
pub fn mask_address(address: &str) -> String {
    let cut = ['区', '县', '旗']
        .iter()
        .filter_map(|marker| address.find(*marker).map(|i| i + marker.len_utf8()))
        .min()
        .or_else(|| address.find('市').map(|i| i + '市'.len_utf8()));
    match cut {
        Some(end) if end < address.len() => format!("{}****", &address[..end]),
        Some(_) => address.to_owned(),
        None => "****".into(),
    }
}

/// `1990-03-07` → `1990-**-**`: the year stays, enough for an age band and for the
/// customer at the counter to recognise, while month and day (which with the ID
/// number's last four and the district rebuild the ID number) never show.
pub fn mask_birth_date(date: &str) -> String {
    keep_ends(date, 4, 0)
        .char_indices()
        .map(|(i, c)| if i == 4 || i == 7 { '-' } else { c })
        .collect()
}

/// Keeps `head` and `tail` characters; values too short to hide at least four
/// characters are masked whole.
fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let value = value.trim();
    let n = value.chars().count();
    if n < head + tail + 4 {
        return "*".repeat(n);
    }
    // Byte offsets of the kept ends, so that they are copied as they are: a masked
    // account or card number is written for every one a profile shows.
    let offset = |chars: usize| {
        value
            .char_indices()
            .nth(chars)
            .map_or(value.len(), |(i, _)| i)
    };
    let (head_end, tail_start) = (offset(head), offset(n - tail));
    let hidden = n - head - tail;
    let mut out = String::with_capacity(head_end + hidden + value.len() - tail_start);
    out.push_str(&value[..head_end]);
    out.extend(std::iter::repeat_n('*', hidden));
    out.push_str(&value[tail_start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_ends_are_whole_characters() {
        assert_eq!(keep_ends(" ü1234567ä ", 1, 1), "ü*******ä");
        assert_eq!(keep_ends("账户1234567号", 2, 1), "账户*******号");
        assert_eq!(
            keep_ends("ab12c", 1, 1),
            "*****",
            "too short to show its ends"
        );
        assert_eq!(keep_ends("", 3, 4), "");
    }

    #[test]
    fn masks_follow_the_bank_conventions() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("欧阳娜"), "欧**");
        assert_eq!(mask_name("上海浦江精密机械有限公司"), "上海**********");
        assert_eq!(mask_id_number("11010119900307123X"), "110***********123X");
        assert_eq!(mask_mobile("13812345678"), "138****5678");
        assert_eq!(mask_number("6228481234566789"), "622848******6789");
        assert_eq!(mask_email("dong.li@126.com"), "d***@126.com");
        assert_eq!(
            mask_address("上海市浦东新区世纪大道100号"),
            "上海市浦东新区****"
        );
    }

    #[test]
    fn short_values_are_masked_whole() {
        assert_eq!(mask_mobile("12345"), "*****");
        assert_eq!(mask_number("1234567"), "*******");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn a_masked_birth_date_keeps_the_year_only() {
        assert_eq!(mask_birth_date("1990-03-07"), "1990-**-**");
    }

    #[test]
    fn the_birth_date_never_shows() {
        let masked = mask_id_number("110101199003071234");
        assert!(!masked.contains("19900307"));
    }
}

//! Names a device from its user agent, in words for the sessions page:
//! "Firefox on Windows", "Safari on iPhone". A user agent is whatever the
//! client claims, so the result is a rough reading and decides nothing.

/// Returns the browser or client and the operating system in words.
pub fn describe(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.map(str::trim).filter(|agent| !agent.is_empty()) else {
        return "Unknown device".to_owned();
    };
    match (browser(agent), system(agent)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("Unknown browser on {system}"),
        (None, None) => {
            // Command-line clients and libraries name themselves first.
            let product = agent.split(['/', ' ']).next().unwrap_or(agent);
            product.chars().take(40).collect()
        }
    }
}

/// Finds the browser. Edge and Opera also claim Chrome, and Chrome also
/// claims Safari, so the list is searched in order.
fn browser(agent: &str) -> Option<&'static str> {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    BROWSERS
        .iter()
        .find(|(marker, _)| agent.contains(marker))
        .map(|(_, name)| *name)
}

/// Finds the operating system. Mobile systems come first, because their
/// agents also mention desktop ones ("like Mac OS X", "Linux").
fn system(agent: &str) -> Option<&'static str> {
    const SYSTEMS: [(&str, &str); 8] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    SYSTEMS
        .iter()
        .find(|(marker, _)| agent.contains(marker))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_read_as_words() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
        ];
        for (agent, expected) in cases {
            assert_eq!(describe(Some(agent)), expected, "{agent}");
        }
        assert_eq!(describe(None), "Unknown device");
    }
}

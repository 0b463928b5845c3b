//! Names as the server checks them, and text as it relays it: a name is taken as sent or
//! refused, never quietly changed. Real TCP clients against an in-process server on port 0.

mod common;

use common::{Lines, TestClient, start_server};

/// The rule every invalid-name error ends with.
const RULE: &str = "use 1-32 letters, digits, _ or -";

#[test]
fn a_control_character_in_a_name_is_refused_not_removed() {
    let server = start_server();
    let mut client = TestClient::connect(server.addr);
    client.send("name\x07");
    client.expect(&format!(
        "! invalid name \"name\\u{{7}}\": it contains '\\u{{7}}'; {RULE}"
    ));
    client.send("name\0");
    client.expect(&format!(
        "! invalid name \"name\\0\": it contains '\\0'; {RULE}"
    ));
    client.send("\x1b[31mred");
    client.expect(&format!(
        "! invalid name \"\\u{{1b}}[31mred\": it contains '\\u{{1b}}'; {RULE}"
    ));
    client.send("name");
    client.expect("* welcome name, you are in #lobby (1): name");
}

#[test]
fn nick_refuses_a_control_character_instead_of_removing_it() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    alice.send("/nick carol\x07");
    alice.expect(&format!(
        "! invalid name \"carol\\u{{7}}\": it contains '\\u{{7}}'; {RULE}"
    ));
    alice.send("/nick carol");
    alice.expect("* alice is now carol");
}

#[test]
fn a_decomposed_name_is_taken_in_its_composed_form() {
    let server = start_server();
    let mut jose = TestClient::connect(server.addr);
    jose.send("jose\u{301}");
    jose.expect("* welcome jos\u{e9}, you are in #lobby (1): jos\u{e9}");
    let mut other = TestClient::connect(server.addr);
    other.send("jos\u{e9}");
    other.expect("! name \"jos\u{e9}\" is taken, choose another");
    other.send("JOSE\u{301}");
    other.expect("! name \"JOSE\u{301}\" is taken, choose another");
    other.send("bob");
    other.expect_prefix("* welcome bob");
    other.send("/msg jose\u{301} hola");
    jose.wait_for("bob -> jos\u{e9}: hola");
}

#[test]
fn names_that_draw_nothing_are_refused() {
    let server = start_server();
    let mut client = TestClient::connect(server.addr);
    // The name as sent, as the error quotes it, and the character it names.
    for (name, quoted, blank) in [
        ("\u{3164}", "\\u{3164}", "\\u{3164}"),
        ("\u{3164}\u{3164}", "\\u{3164}\\u{3164}", "\\u{3164}"),
        ("\u{115f}", "\\u{115f}", "\\u{115f}"),
        ("\u{1160}", "\\u{1160}", "\\u{1160}"),
        ("\u{ffa0}", "\\u{ffa0}", "\\u{ffa0}"),
        ("alice\u{3164}", "alice\\u{3164}", "\\u{3164}"),
        (
            "alice\u{3164}-\u{1433}\u{3164}victim",
            "alice\\u{3164}-\u{1433}\\u{3164}victim",
            "\\u{3164}",
        ),
        ("al\u{200b}ice", "al\\u{200b}ice", "\\u{200b}"),
    ] {
        client.send(name);
        client.expect(&format!(
            "! invalid name \"{quoted}\": it contains '{blank}', which is invisible; {RULE}"
        ));
    }
    client.send("alice");
    client.expect_prefix("* welcome alice");
    client.send("/nick alice\u{ffa0}");
    client.expect(&format!(
        "! invalid name \"alice\\u{{ffa0}}\": it contains '\\u{{ffa0}}', which is invisible; {RULE}"
    ));
}

#[test]
fn names_that_mix_scripts_are_refused_and_each_script_works_alone() {
    let server = start_server();
    let mut client = TestClient::connect(server.addr);
    for (name, scripts) in [
        ("\u{430}lice", "Cyrillic and Latin"),
        (
            "mixed\u{41c}\u{438}\u{440}\u{bbfc}\u{c218}",
            "Latin, Cyrillic and Hangul",
        ),
        ("alice-\u{1433}victim", "Latin and Canadian Aboriginal"),
        ("\u{3a9}mega", "Greek and Latin"),
    ] {
        client.send(name);
        client.expect(&format!(
            "! invalid name \"{name}\": it mixes the {scripts} scripts; {RULE}"
        ));
    }
    // One script at a time is fine, and so are the mixes UTS #39 calls highly
    // restrictive: Han with Hangul, Latin with Hangul, Latin with Han and kana.
    let mut joined = Vec::new();
    for name in [
        "\u{bbfc}\u{c218}",
        "\u{6881}\u{bbfc}\u{c218}",
        "Tom\u{bbfc}\u{c218}",
        "\u{3148}\u{3148}",
        "\u{41c}\u{438}\u{440}",
        "\u{3a9}\u{3bc}\u{3ad}\u{3b3}\u{3b1}",
        "\u{65e5}\u{672c}\u{306e}Hana",
        "\u{13e3}\u{13b3}\u{13a9}",
        "\u{645}\u{62d}\u{645}\u{62f}",
        "\u{c9}mile_2",
    ] {
        joined.push(TestClient::join(server.addr, name));
    }
    client.send("/quit");
    client.expect("* bye");
}

#[test]
fn look_alikes_of_a_name_in_use_are_refused_saying_which_name() {
    let server = start_server();
    let mut alice = TestClient::join(server.addr, "alice");
    let mut client = TestClient::connect(server.addr);
    for name in [
        // Cyrillic а, ӏ, і, с, е: one script, and alice to the eye.
        "\u{430}\u{4cf}\u{456}\u{441}\u{435}",
        // Fullwidth and mathematical bold letters.
        "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
        "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}",
        // Digit one for l: ASCII look-alikes count too.
        "a1ice",
    ] {
        client.send(name);
        client.expect(&format!(
            "! name \"{name}\" is too much like \"alice\", choose another"
        ));
    }
    client.send("ALICE");
    client.expect("! name \"ALICE\" is taken, choose another");
    client.send("bob");
    client.expect_prefix("* welcome bob");
    client.send("/nick a\u{217c}ice");
    client.expect("! name \"a\u{217c}ice\" is too much like \"alice\", choose another");
    // The look-alike reaches the one whose name it looks like.
    client.send("/msg \u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45} psst");
    alice.wait_for("bob -> alice: psst");
    // Refused only while alice has the name.
    alice.send("/quit");
    alice.expect("* bye");
    client.wait_for("* alice quit");
    client.send("/nick \u{430}\u{4cf}\u{456}\u{441}\u{435}");
    client.expect("* bob is now \u{430}\u{4cf}\u{456}\u{441}\u{435}");
}

#[test]
fn me_cannot_forge_a_notice_with_invisible_characters_or_other_spaces() {
    let server = start_server();
    let mut eve = TestClient::join(server.addr, "eve");
    let mut bob = TestClient::join(server.addr, "bob");
    eve.expect("* bob joined #lobby");
    for forged in [
        "quit\u{200b}",
        "\u{200b}quit",
        "q\u{200b}uit",
        "quit\u{a0}(connection lost)",
        "quit  (connection lost)",
        "quit\u{3000}(too slow)",
        "quit\u{3164}(connection lost)",
        "quit\t(connection lost)",
        "quit (connection lost).",
        "QUIT",
        "is\u{a0}now alice",
        "is now\u{2003}alice!",
        "joined\u{2009}#dev",
        "left #dev\u{feff}",
    ] {
        eve.send(&format!("/me {forged}"));
        eve.expect("! /me can't look like a server notice");
    }
    let mut server_user = TestClient::join(server.addr, "server");
    bob.expect("* server joined #lobby");
    for forged in ["shutting down.", "shutting\u{a0}down", "SHUTTING DOWN!"] {
        server_user.send(&format!("/me {forged}"));
        server_user.expect("! /me can't look like a server notice");
    }
    // Actions that only contain such characters are relayed as they are.
    eve.send("/me waves\u{a0}at bob");
    bob.expect("* eve waves\u{a0}at bob");
}

#[test]
fn relayed_text_cannot_break_the_line_or_reorder_what_follows_it() {
    let server = start_server();
    let mut eve = TestClient::join(server.addr, "eve");
    let mut bob = TestClient::join(server.addr, "bob");
    eve.expect("* bob joined #lobby");
    // A receiver that splits on U+2028 or U+2029 (Python's splitlines) would see a fake
    // notice on a line of its own.
    eve.send("hi\u{2028}* alice quit (connection lost)");
    bob.expect("eve: hi * alice quit (connection lost)");
    eve.send("/me waves\u{2029}* alice quit");
    bob.expect("* eve waves * alice quit");
    eve.send("/msg bob psst\u{2028}* alice quit");
    bob.expect("eve -> bob: psst * alice quit");
    // Overrides, embeddings and isolates end with the text that opened them; closers
    // that close nothing are dropped.
    eve.send("abc\u{202e}fed");
    bob.expect("eve: abc\u{202e}fed\u{202c}");
    eve.send("\u{2067}\u{202b}x\u{2069}y\u{2066}");
    bob.expect("eve: \u{2067}\u{202b}x\u{202c}\u{2069}y\u{2066}\u{2069}");
    eve.send("stray\u{202c}\u{2069} closers");
    bob.expect("eve: stray closers");
    // Joiners that emoji and scripts need stay.
    eve.send(
        "\u{1f469}\u{200d}\u{1f4bb} \u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
    );
    bob.expect(
        "eve: \u{1f469}\u{200d}\u{1f4bb} \u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
    );
    eve.send("/quit bye\u{2028}* alice quit (connection lost) \u{202e}");
    bob.expect("* eve quit (bye * alice quit (connection lost) \u{202e}\u{202c})");
}

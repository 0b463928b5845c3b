//! Names as the server checks them, and text as it relays it: a name is taken as sent or
//! refused, never quietly changed. Real TCP clients against an in-process server on port 0.

mod common;

use common::{TestClient, start_server};

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

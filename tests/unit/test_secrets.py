"""plugin_utils/secrets.py: secrets are read literally, references followed, problems named
without the value. (Vault decryption and file:line origins are proven end to end by
tests/integration/test_secrets_output.py and the validation corpus.)"""
import pytest

from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets


def inventory(**tenants):
    return {
        "mailfleet_tenants": tenants or {"alpha": {"smtp_password": "Xy{{9%k"}, "beta": {"smtp_password": "a%b{c"}},
        "mailfleet_mailwizz_instances": {
            "main": {"url": "https://mw.example.com/api", "api_key": "{{ vault_keys['main'] }}",
                     "db": {"host": "127.0.0.1", "password": "{{ vault_db }}"}}},
        "vault_keys": {"main": "k-main-0123", "alpha": "k-alpha-4567"},
        "vault_db": "{{ vault_db_real }}",
        "vault_db_real": "d{b%pw#",
        "mailfleet_alerts": {"telegram": {"token": "123456:ABCdefGHIjklMNOpqrSTUvwx", "chat_id": "-1"},
                             "webhook": {"url": "https://hook.example.com/x", "headers": {"Authorization": "Bearer t0k"}}},
    }


def test_passwords_are_used_exactly_as_written():
    assert secrets.smtp_passwords(inventory()) == {"alpha": "Xy{{9%k", "beta": "a%b{c"}


@pytest.mark.parametrize("password", ["Xy{{9#k", "a#b", "<x>"])
def test_an_smtp_password_powermta_cannot_hold_is_refused_without_showing_it(password):
    # '#' starts a comment in a PowerMTA line even inside quotes (guide 3.3.10.55): refused at
    # validation, never silently cut at deploy.
    with pytest.raises(secrets.SecretError) as info:
        secrets.smtp_passwords({"mailfleet_tenants": {"t": {"smtp_password": password}}})
    text = str(info.value)
    assert "mailfleet_tenants.t.smtp_password" in text and "PowerMTA" in text and password not in text


@pytest.mark.parametrize("password", ["{{ oops", "}}x{{", "{%x", "a{{b}}c", "{c}", "100%", "pa ss", "'", "`$(x)`"])
def test_jinja_looking_characters_inside_a_password_are_literal(password):
    assert secrets.smtp_passwords({"mailfleet_tenants": {"t": {"smtp_password": password}}}) == {"t": password}


def test_a_plain_reference_is_followed_and_nothing_is_evaluated():
    tv = inventory()
    tv["mailfleet_tenants"]["alpha"]["smtp_password"] = "{{ vault_keys.alpha }}"
    tv["mailfleet_tenants"]["beta"]["smtp_password"] = '{{ vault_keys["main"] }}'
    assert secrets.smtp_passwords(tv) == {"alpha": "k-alpha-4567", "beta": "k-main-0123"}
    tv["vault_keys"]["alpha"] = "{{9 nested {{"  # the target is literal too
    assert secrets.smtp_passwords(tv)["alpha"] == "{{9 nested {{"


def test_a_referenced_container_is_followed():
    tv = inventory()
    tv["real_tenants"] = tv["mailfleet_tenants"]
    tv["mailfleet_tenants"] = "{{ real_tenants }}"
    assert secrets.smtp_passwords(tv) == {"alpha": "Xy{{9%k", "beta": "a%b{c"}


EXPRESSION = ("is a Jinja expression; secrets are read literally, so write the value (vault-encrypted) or a plain "
              "reference such as {{ vault_name }} or {{ vault_name['key'] }}")


@pytest.mark.parametrize("value, message", [
    ("{{ lookup('env', 'PW') }}", EXPRESSION),
    ("{{ vault_x | default('p') }}", EXPRESSION),
    ("{% if 1 %}x{% endif %}", EXPRESSION),
    ("{{ missing }}", "refers to variable missing, which is not defined"),
    ("{{ vault_keys['nope'] }}", "refers to vault_keys['nope'], which is not defined"),
    ("{{ loop_a }}", "references other variables more than 10 levels deep (a loop?)"),
    ('with"quote', "contains a double quote, which PowerMTA's quoting cannot hold"),
    ("back\\slash", "contains a backslash, which PowerMTA's quoting cannot hold"),
    ("line\nfeed", "contains U+000A (LINE FEED); a password is printable ASCII"),
    ("nul\x00", "contains U+0000 (NUL); a password is printable ASCII"),
    ("nb\u00a0sp", "contains U+00A0 (NO-BREAK SPACE); a password is printable ASCII"),
    ("zw\u200bsp", "contains U+200B (ZERO WIDTH SPACE); a password is printable ASCII"),
    (" lead", "starts or ends with a space"),
    ("", "must not be empty"),
    ({"a": 1}, "expected a string, got a mapping"),
    (["x"], "expected a string, got a list"),
    (12345, "expected a string, got an integer"),
    (True, "expected a string, got a boolean"),
])
def test_unusable_passwords_are_named_without_the_value(value, message):
    tv = inventory(alpha={"smtp_password": value})
    tv["loop_a"] = "{{ loop_b }}"
    tv["loop_b"] = "{{ loop_a }}"
    with pytest.raises(secrets.SecretError) as info:
        secrets.smtp_passwords(tv)
    assert info.value.messages == ["variable mailfleet_tenants.alpha.smtp_password: " + message]
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(info.value)


def test_every_problem_is_reported_at_once_in_key_order():
    tv = inventory(zeta={"smtp_password": "a\nb"}, alpha={"smtp_password": "x\"y"}, ok={"smtp_password": "fine"})
    with pytest.raises(secrets.SecretError) as info:
        secrets.smtp_passwords(tv)
    assert [m.split(":")[0] for m in info.value.messages] == [
        "variable mailfleet_tenants.alpha.smtp_password", "variable mailfleet_tenants.zeta.smtp_password"]


def test_tenants_without_password_are_left_out():
    assert secrets.smtp_passwords({"mailfleet_tenants": {"a": {}, "b": {"smtp_password": None}}}) == {}
    assert secrets.smtp_passwords({}) == {}


def test_mailwizz_secrets_of_an_instance_and_of_a_tenant_with_its_own_key():
    tv = inventory()
    assert secrets.mailwizz_secrets(tv, "main") == {
        "api_key": "k-main-0123", "public_key": None, "private_key": None, "db_password": "d{b%pw#"}
    tv["mailfleet_tenants"]["alpha"]["mailwizz_auth"] = {"api_key": "{{ vault_keys['alpha'] }}"}
    assert secrets.mailwizz_secrets(tv, "main", tenant="alpha")["api_key"] == "k-alpha-4567"
    assert secrets.mailwizz_secrets(tv, "main", tenant="beta")["api_key"] == "k-main-0123"
    with pytest.raises(secrets.SecretError, match="no MailWizz instance 'other'"):
        secrets.mailwizz_secrets(tv, "other")


def test_alert_secrets_and_the_token_grammar():
    tv = inventory()
    assert secrets.alert_secrets(tv) == {"telegram_token": "123456:ABCdefGHIjklMNOpqrSTUvwx",
                                         "webhook_headers": {"Authorization": "Bearer t0k"}}
    tv["mailfleet_alerts"]["telegram"]["token"] = "123456:short/../x"
    with pytest.raises(secrets.SecretError) as info:
        secrets.alert_secrets(tv)
    assert info.value.messages == ["variable mailfleet_alerts.telegram.token: is not a Telegram bot token "
                                   "(digits, ':', then letters, digits, '_' or '-')"]


def test_collect_lists_every_secret_of_the_inventory():
    tv = inventory()
    tv["mailfleet_spamhaus_dqs_key"] = "abcdefghijklmnopqrstuvwxyz"
    values, messages = secrets.collect(tv)
    assert messages == []
    assert sorted(values) == [
        "mailfleet_alerts.telegram.token", "mailfleet_alerts.webhook.headers.Authorization",
        "mailfleet_mailwizz_instances.main.api_key", "mailfleet_mailwizz_instances.main.db.password",
        "mailfleet_spamhaus_dqs_key", "mailfleet_tenants.alpha.smtp_password", "mailfleet_tenants.beta.smtp_password"]


def test_secret_checker_names_exactly_the_secret_keys():
    assert secrets.secret_checker("mailfleet_tenants", ("alpha", "smtp_password")) is not None
    assert secrets.secret_checker("mailfleet_tenants", ("alpha", "smtp_user")) is None
    assert secrets.secret_checker("mailfleet_mailwizz_instances", ("main", "db", "password")) is not None
    assert secrets.secret_checker("mailfleet_mailwizz_instances", ("main", "db", "user")) is None
    assert secrets.secret_checker("mailfleet_alerts", ("webhook", "headers", "X-Token")) is not None
    assert secrets.secret_checker("mailfleet_spamhaus_dqs_key", ()) is not None


def test_untrust_literals_makes_secrets_literal_for_ansible_and_keeps_references():
    from ansible.template import is_trusted_as_template, trust_as_template
    t = trust_as_template
    variables = {
        "mailfleet_tenants": {"alpha": {"smtp_password": t("Xy{{9%k"), "pool": t("{{ pool_name }}")},
                              "beta": {"smtp_password": t("{{ vault_pw['beta'] }}")},
                              "gamma": {"smtp_password": t("{{ lookup('env', 'X') }}")}},
        "vault_pw": {"beta": t("a{{b%c")},
        "mailfleet_alerts": {"webhook": {"headers": {"Authorization": t("Bearer {{x")}}},
    }
    secrets.untrust_literals(variables)
    tenants = variables["mailfleet_tenants"]
    assert not is_trusted_as_template(tenants["alpha"]["smtp_password"])
    assert tenants["alpha"]["smtp_password"] == "Xy{{9%k"
    assert is_trusted_as_template(tenants["alpha"]["pool"])  # not a secret: Ansible templates it
    assert is_trusted_as_template(tenants["beta"]["smtp_password"])  # a reference: Ansible resolves it...
    assert not is_trusted_as_template(variables["vault_pw"]["beta"])  # ...to a literal
    assert is_trusted_as_template(tenants["gamma"]["smtp_password"])  # an expression: refused by read_secret
    assert not is_trusted_as_template(variables["mailfleet_alerts"]["webhook"]["headers"]["Authorization"])

"""Redaction review 3: a secret's fallback in a ``getenv`` / ``.get`` call, a cookie keyed
by its own name (``{'li_at': …}``), ``curl -u user:password`` and ``mysql -pSecret`` kept
their secret; the shell's working directory (``PWD=/home/…``) and a YouTube API page token
(``"nextPageToken": "…"``) lost their text though neither is a secret."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_and_stable

from foundups_training.mining.redact import REDACTED, redact

# (id, line, what must not survive): each one survived redaction before.
SECRETS = [
    # 1. a secret's fallback value in a getenv / mapping get call
    ("getenv default", 'os.getenv("DB_PASSWORD", "hunter2")', "hunter2"),
    ("environ.get default", "os.environ.get('API_KEY', 'plainwords')", "plainwords"),
    ("assigned getenv", 'password = os.getenv("DB_PASSWORD", "hunter2")', "hunter2"),
    ("keyword default", 'os.getenv("YOUTUBE_API_KEY", default="plainwords")', "plainwords"),
    ("weak name, generated", 'os.getenv("TOKEN", "opaque0123AbCd4567")', "opaque0123AbCd4567"),
    ("settings.get", 'settings.get("DB_PASSWORD", "hunter2")', "hunter2"),
    ("setdefault", "os.environ.setdefault('DB_PASS', 's e c')", "s e c"),
    ("or fallback", "pw = os.environ.get('PGPASSWORD') or 'hunter2'", "hunter2"),
    ("js fallback", 'const pw = process.env.DB_PASSWORD || "hunter2";', "hunter2"),
    ("js nullish", "const key = process.env.API_KEY ?? 'plainwords'", "plainwords"),
    ("escaped json", r'"src": "os.getenv(\"DB_PASSWORD\", \"hunter2\")"', "hunter2"),
    # 2. a cookie dict keyed by the cookie's name
    ("li_at", "{'li_at': 'AQEDARabc123DEF456ghi789', 'lang': 'v=2&lang=en-us'}", "AQEDAR"),
    ("jsessionid", '{"JSESSIONID": "ajax:1234567890123456789"}', "1234567890123456789"),
    ("google SID", "cookies={'SID': 'g.a000abcDEF123ghiJKL456'}", "abcDEF123"),
    ("google HSID", "{'HSID': 'AYQ2xk4Vt7a9bJk3P', 'SSID': 'Ab3dEf5gH7jK9'}", "AYQ2xk4Vt7a9bJk3P"),
    ("google SSID", "{'HSID': 'AYQ2xk4Vt7a9bJk3P', 'SSID': 'Ab3dEf5gH7jK9'}", "Ab3dEf5gH7jK9"),
    ("sapisid", '{"SAPISID": "abcdefgh/ijklmnop"}', "abcdefgh/ijklmnop"),
    ("secure psid", '{"__Secure-3PSID": "g.a000xyz"}', "g.a000xyz"),
    ("secure psidts", "__Secure-1PSIDTS=sidts-CjIBabc", "sidts-CjIBabc"),
    ("youtube login_info", "{'LOGIN_INFO': 'AFmmF2swRQIhAL0abcDEF123'}", "AFmmF2swRQIhAL0"),
    ("phpsessid", "PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3", "el4ukv0kqbvoirg7nkp4dncpk3"),
    ("django sessionid", "{'sessionid': 'x7k2mfp3a1cu8ds4bzw9'}", "x7k2mfp3a1cu8ds4bzw9"),
    ("java url rewriting", "GET /app;jsessionid=1A2B3C4D5E6F7A8B HTTP/1.1", "1A2B3C4D5E6F7A8B"),
    ("express connect.sid", "connect.sid=s%3Aabc123DEF456.xyz", "abc123DEF456"),
    # 3. curl's user:password and mysql's -p<password>
    ("curl -u", "curl -u user:password https://api.example.com", "password"),
    ("curl --user", "curl --user bob:hunter2 https://x.example", "hunter2"),
    ("curl -u quoted", "curl -s -u 'bob:correct horse' https://x.example", "correct horse"),
    ("curl -u attached", "curl -ubob:hunter2 https://x.example", "hunter2"),
    ("curl --proxy-user", "curl --proxy-user bob:hunter2 -x p:3128 https://x", "hunter2"),
    ("curl key as user", "curl https://api.stripe.com/v1/x -u sk_test_4eC39HqLyjWDarjT:", "4eC39"),
    ("mysql -p", "mysql -u root -pSecret db", "Secret"),
    ("mysqldump -p quoted", "mysqldump -u root -p'x y' db > dump.sql", "x y"),
    ("mysql -p double quoted", 'mysql -h db -p"hunter2" -e "select 1"', "hunter2"),
    ("mariadb -p", "mariadb -uroot -phunter2", "hunter2"),
    ("mysql in bin", "/usr/bin/mysql -uroot -pSecret db", "Secret"),
    ("mysql -p, semicolon quoted", "mysql -p'a;b c' -e 'select 1'", "b c"),
    ("curl after a quoted ;", "curl -H 'X-Trace: a; b' -u bob:hunter2 https://x", "hunter2"),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_secrets_that_survived_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out
    assert redact(out) == out


# (line, what it becomes): the secret only; the call, the dict, the command stay.
EXACT = [
    ('os.getenv("DB_PASSWORD", "hunter2")', f'os.getenv("DB_PASSWORD", "{REDACTED}")'),
    (
        'password = os.getenv("DB_PASSWORD", "hunter2")',
        f'password = os.getenv("DB_PASSWORD", "{REDACTED}")',
    ),
    (
        "{'li_at': 'AQEDARabc123DEF456ghi789', 'JSESSIONID': 'ajax:123456789'}",
        f"{{'li_at': '{REDACTED}', 'JSESSIONID': '{REDACTED}'}}",
    ),
    ("curl -u bob:hunter2 https://x", f"curl -u bob:{REDACTED} https://x"),
    ("curl -u 'bob:a b' https://x", f"curl -u 'bob:{REDACTED}' https://x"),
    ("mysql -u root -pSecret db", f"mysql -u root -p{REDACTED} db"),
    ("mysqldump -p'x y' db", f"mysqldump -p'{REDACTED}' db"),
    ("mysql --password=Secret db", f"mysql --password={REDACTED} db"),  # redacted before too
    (
        "env PWD=/home/user/project DB_PWD=hunter2",
        f"env PWD=/home/user/project DB_PWD={REDACTED}",
    ),
    (
        "GET /v3/liveChat/messages?pageToken=GOrkrbTd7_ICIMjO2q3d7_ICMAA&key=abcd1234efgh5678",
        f"GET /v3/liveChat/messages?pageToken=GOrkrbTd7_ICIMjO2q3d7_ICMAA&key={REDACTED}",
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_only_the_secret_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


# Look-alikes: each must come out as it went in (the first ones were redacted before).
KEPT = [
    # 4. the shell's working directory and an API's page token (redacted before)
    "PWD=/home/user/project",
    "PWD: /home/user/my project",
    "pwd=/srv/foundups-agent",
    "PWD=C:\\Users\\bob\\Foundups-Agent",
    '"nextPageToken": "QURTSl9pM0hyWjBfYWJjZEVGZ2hpSktMbW5vUFFy"',
    "nextPageToken=GOrkrbTd7_ICIMjO2q3d7_ICMAA",
    "{'pageToken': 'EAAaBlBUOkNESQ', 'prevPageToken': 'CDIQAQ'}",
    "next_token=7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i",  # X API pagination
    # the same, kept before
    "OLDPWD=/home/user",
    "nextPageToken=CAUQAA",
    # a fallback that says nothing secret, or a name that is no secret's
    'os.getenv("DB_PASSWORD", None)',
    'os.getenv("DB_PASSWORD", "")',
    'os.getenv("TOKEN", "expired")',
    'os.getenv("HOME", "/root")',
    'os.getenv("TOKEN_COUNT", "1532")',
    'settings.get("token_file", "credentials/oauth_token_set1.json")',
    'os.getenv("DB_PASSWORD", default_password)',
    "kwargs.get('api_key', self.api_key)",
    'headers.get("Authorization", "Bearer")',
    "const port = process.env.PORT || '8080'",
    # a dict keyed by names that are no session cookie's, or an ordinary value
    "{'SID': 'ORCL', 'host': 'db'}",  # an Oracle SID
    "{'AccountSid': 'AC0123', 'lang': 'en'}",
    "SID: S-1-5-21-3623811015-3361044348-30300820-1013",  # a Windows SID
    "{'session_id': 'abc123DEF456ghi', 'sessionId': 'chat-42'}",
    "{'li_at': None, 'JSESSIONID': ''}",
    "sessionid=expired",
    # commands: a user with no password, a user:group, a prompt, short flags elsewhere
    "curl -u bob https://x.example",
    'curl -u "$API_USER:$API_PASS" https://x.example',
    "curl -u ${USER}:${TOKEN} https://x.example",
    "curl -u : --negotiate https://x.example",
    "docker run -u 1000:1000 image",
    "docker exec -u www-data:www-data app ls",
    "mysql -u root -p mydb",
    "mysql -h db -P 3306 -u root -p < dump.sql && mkdir -p /tmp/x",
    "mysql -u root -p***",
    "set -p hunter2",
    "python -u script.py user:pass",
    "find /var/lib/mysql -print",
    "docker run --name mysql -p3306:3306 mysql:8",
    "curl https://x.example; docker run -u 1000:1000 image",
    "docker run curlimages/curl -u 1000:1000",
    "{'ssid': 'MyWifi5G2'}",
]


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


STILL_SECRET = [
    ("PWD=hunter2", "hunter2"),  # no path: a password
    ("pwd: correct horse", "horse"),
    ("DB_PWD=/srv/x", "/srv/x"),  # only the shell's own name says "directory"
    ("PWD=/x9Kq2mZ7AbCdEf", "x9Kq2mZ7"),  # a path's part that looks generated
    ("page_token=1 access_token=opaque0123AbCd4567", "opaque0123AbCd4567"),
    ('{"nextPageToken": "CAUQAA", "refresh_token": "1//0gLq7Xk9abcdefghij"}', "gLq7Xk9"),
    ("FB_PAGE_TOKEN=EAAGm0PX4ZCpsBAabc123DEF456", "EAAGm0PX4ZCpsBA"),  # a setting: a credential
]


@pytest.mark.parametrize(("text", "secret"), STILL_SECRET)
def test_what_only_resembles_a_look_alike_is_still_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)


# Each new rule's trigger, repeated (and with what would make its value run long).
HOSTILE = [
    'os.getenv("DB_PASSWORD", "',
    "os.getenv('DB_PASSWORD', ",
    'x.get("api_key", default=',
    "os.environ.get('PGPASSWORD') or ",
    "process.env.DB_PASSWORD || ",
    "getenv( ",
    "'li_at': '",
    "__Secure-1PSID=",
    "JSESSIONID:",
    "curl -u a:",
    "curl -u ",
    "curl ",
    "curl -u 'a:",
    "mysql -p'",
    "mysql -p",
    "mysql ;",
    " -p'x",
    "PWD=/",
    "PWD=/a ",
    "nextPageToken=",
]


@pytest.mark.timeout(300)  # a safety net only: each 64 KB line takes milliseconds
@pytest.mark.parametrize("unit", HOSTILE)
def test_a_repeated_trigger_costs_what_its_length_does(unit: str) -> None:
    assert_linear_and_stable(redact, unit)  # CPU-time ratios, not a time (linear_cost.py)


@pytest.mark.parametrize(
    "line",
    [
        "sessionId: this.getSessionId(),",  # the host's gotjunk architecture notes
        "token: getAccessToken(),",
        "password = getDbPassword(user)",
        "sessionId: getSessionId(),",
    ],
)
def test_a_camel_case_call_is_code_not_a_token(line: str) -> None:
    """A called name written in camelCase words (JavaScript's ``this.getSessionId()``) has
    the case switches of a token, and was removed as one: on the host's tree the session
    names made ``sessionId: this.getSessionId(),`` lose its code."""
    assert redact(line) == line


@pytest.mark.parametrize(
    "line", ["token=aBcDeFgH1234(", "token: xK9fLm2QpR7s(", "sessionid=AbCdEf12GhIj34"]
)
def test_a_token_before_a_bracket_is_still_a_token(line: str) -> None:
    assert REDACTED in redact(line)

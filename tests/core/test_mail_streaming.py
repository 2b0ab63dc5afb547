"""The streaming mail reader (``boxtui.core.mail``) reads a mail as the stdlib parser
does — the text and every attachment the same — whatever pieces it arrives in.

The reference below is the in-memory reading that e-mail ingest used before it
streamed (``EmailMessage.get_body`` and a walk of the whole MIME tree).
"""

from __future__ import annotations

import email.errors
import os
import random
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from boxtui.core.mail import MAX_TEXT_BYTES, TRUNCATED_NOTE, BytesSink, MailError, MailReader, _TextExtractor, parse_email

# --- the reference: the whole mail in memory, read with the stdlib --------------------


def _html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _part_text(part):
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError, email.errors.MessageError):
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _is_attachment(part) -> bool:
    if part.get_content_maintype() == "message":
        return True
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() != "text"


def _attachment_parts(part, body):
    if part is body:
        return []
    if part.get_content_maintype() == "message":
        return [part]
    if part.is_multipart():
        return [found for sub in part.iter_parts() for found in _attachment_parts(sub, body)]
    return [part] if _is_attachment(part) else []


def reference(raw: bytes) -> tuple[str, list[tuple[str, str, bytes]]]:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        text = _part_text(body)
        if body.get_content_subtype() == "html":
            text = _html_to_text(text)
        text = text.strip()
    lines = [f"{n}: {v}" for n in ("From", "Subject") if (v := str(message.get(n, "") or "").strip())]
    full = "\n\n".join(p for p in ("\n".join(lines), text) if p)
    attachments = []
    data = full.encode()
    if len(data) > MAX_TEXT_BYTES:
        full = data[:MAX_TEXT_BYTES].decode("utf-8", "ignore") + f"\n\n[{TRUNCATED_NOTE}]"
        attachments.append(("message.txt", "text/plain", data))
    if message.get_content_maintype() == "multipart":
        parts = [f for sub in message.iter_parts() for f in _attachment_parts(sub, body)]
        for i, part in enumerate(parts, start=1):
            is_message = part.get_content_maintype() == "message"
            name = part.get_filename() or (f"forwarded-{i}.eml" if is_message else f"attachment-{i}")
            if is_message:
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                payload = inner.as_bytes()
            else:
                payload = part.get_payload(decode=True) or b""
            attachments.append((name, part.get_content_type(), payload))
    return full or "(empty e-mail)", attachments


def streamed(raw: bytes, rng: random.Random) -> tuple[str, list[tuple[str, str, bytes]]]:
    reader = MailReader(BytesSink)
    pos = 0
    while pos < len(raw):
        size = rng.choice([1, 2, 3, 7, 64, 1000, 65536])
        reader.feed(raw[pos : pos + size])
        pos += size
    mail = reader.finish()
    return mail.text, [(a.file_name, a.file_type, bytes(a.sink.buffer)) for a in mail.attachments]


def assert_same_reading(raw: bytes, seed: int = 0) -> None:
    want_text, want_attachments = reference(raw)
    got_text, got_attachments = streamed(raw, random.Random(seed))
    assert got_text == want_text
    assert [a[:2] for a in got_attachments] == [a[:2] for a in want_attachments]
    for (name, kind, got), (_, _, want) in zip(got_attachments, want_attachments, strict=True):
        if kind.startswith("message/"):
            # The stdlib re-serialises a forwarded message; we keep its bytes as they came.
            assert BytesParser(policy=policy.default).parsebytes(got).as_bytes() == want, name
        else:
            assert got == want, name


# --- hand-made mails ----------------------------------------------------------------


def _simple(body="Hello\nSecond line.", **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.get("sender", "Zoë <zoe@example.org>")
    message["Subject"] = headers.get("subject", "Report ✓")
    message.set_content(body, **{k: v for k, v in headers.items() if k in ("subtype", "charset", "cte")})
    return message


def _cases() -> dict[str, bytes]:
    cases = {}
    cases["plain"] = _simple().as_bytes()
    cases["crlf"] = _simple().as_bytes(policy=policy.SMTP)
    cases["qp"] = _simple("Zoë " * 100, cte="quoted-printable").as_bytes()
    cases["base64 text"] = _simple("Zoë was here\n" * 50, cte="base64").as_bytes()
    cases["latin-1"] = _simple("café", charset="latin-1").as_bytes()
    cases["html only"] = _simple("<html><body><p>Hi <b>there</b></p><script>x()</script><div>two  words</div></body></html>", subtype="html").as_bytes()
    alternative = _simple("plain text")
    alternative.add_alternative("<p>html text</p>", subtype="html")
    cases["alternative"] = alternative.as_bytes()
    html_first = EmailMessage()
    html_first["Subject"] = "html first"
    html_first.set_content("<p>the html</p>", subtype="html")
    html_first.make_alternative()
    html_first.attach(MIMEPart())
    html_first.get_payload()[1].set_content("the plain")
    cases["html before plain"] = html_first.as_bytes()
    mixed = _simple("with files")
    mixed.add_attachment(os.urandom(5000), maintype="application", subtype="pdf", filename="a.pdf")
    mixed.add_attachment(b"raw bytes", maintype="application", subtype="octet-stream")
    mixed.add_attachment("notes", filename="notes.txt")
    mixed.add_attachment("<p>named html</p>", subtype="html", filename="page.html")
    cases["mixed"] = mixed.as_bytes()
    long_body = _simple("x" * 30_000 + "END")
    long_body.add_attachment(b"\x00" * 100, maintype="application", subtype="zip", filename="z.zip")
    cases["long body"] = long_body.as_bytes()
    cases["long multibyte body"] = _simple("é" * 20_000).as_bytes()
    forwarded = _simple("the original text", subject="Original")
    related = MIMEPart()
    related.set_content("see the picture")
    related.add_related(b"\x89PNG fake image", maintype="image", subtype="png", cid="<pic@x>")
    outer = _simple("outer text")
    outer.make_mixed()
    outer.attach(related)
    outer.add_attachment(forwarded)
    cases["nested and forwarded"] = outer.as_bytes()
    html_only_with_file = _simple("<p>only html</p>", subtype="html")
    html_only_with_file.add_attachment(b"data", maintype="application", subtype="octet-stream")
    cases["html body and unnamed file"] = html_only_with_file.as_bytes()
    cases["boundary-like lines"] = (
        b"From: a@example.org\nSubject: s\nContent-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\n\n"
        b"--not the boundary\n--b1x is not it either\ntext\n--b1  \nContent-Type: application/x-a\n\nAAA\n\n--b1--\nepilogue\n--b1\nignored\n"
    )
    cases["unclosed multipart"] = b"Subject: s\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nbody text\n--q\nContent-Type: image/gif\n\nGIF89a"
    cases["no trailing newline"] = b"Subject: hi\n\nno newline at the end"
    cases["mbox from line"] = b"From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: mbox\n\nbody\n"
    cases["headers only"] = b"Subject: nothing else\n"
    cases["blank body"] = b"Subject: blank\n\n   \n\n"
    cases["unknown charset"] = b"Subject: x\nContent-Type: text/plain; charset=x-unknown-42\n\ncaf\xc3\xa9\n"
    cases["bad base64"] = b"Subject: x\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nQUJD\n**==\nREVG\nR\n"
    cases["digest"] = (
        b"Subject: digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d\n\nSubject: two\n\nsecond\n--d--\n"
    )
    cases["related with start"] = (
        b"Subject: rel\nContent-Type: multipart/related; boundary=r; start=\"<b@x>\"\n\n--r\nContent-ID: <a@x>\nContent-Type: text/plain\n\nnot the start\n"
        b"--r\nContent-ID: <b@x>\nContent-Type: text/plain\n\nthe start\n--r--\n"
    )
    cases["attachment multipart"] = (
        b"Subject: att\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\nContent-Disposition: attachment\n\n"
        b"--i\nContent-Type: text/plain\n\ninside an attachment\n--i--\n--o\nContent-Type: text/plain\n\nthe body\n--o--\n"
    )
    return cases


@pytest.mark.parametrize("name", sorted(_cases()))
def test_reads_like_the_stdlib(name):
    raw = _cases()[name]
    for seed in range(5):
        assert_same_reading(raw, seed)


def test_refusals():
    with pytest.raises(MailError) as empty:
        parse_email(b"  \r\n ")
    assert empty.value.reason == "required"
    with pytest.raises(MailError) as headerless:
        parse_email(b"just some words without any header line")
    assert headerless.value.reason == "malformed"
    with pytest.raises(MailError):
        parse_email(b"Subject: x\nX-Long: " + b"a" * (300 * 1024) + b"\n\nbody")
    deep = b"Subject: deep\n" + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(40))
    with pytest.raises(MailError):
        parse_email(deep)


def test_sinks_are_discarded_when_the_mail_is_refused():
    sinks = []

    class Sink(BytesSink):
        discarded = False

        def __init__(self):
            super().__init__()
            sinks.append(self)

        def discard(self):
            self.discarded = True

    reader = MailReader(Sink)
    with pytest.raises(MailError):
        reader.feed(b"Subject: s\nContent-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: image/png\n\nPNGDATA\n--z\nX: ")
        reader.feed(b"a" * (300 * 1024))
    reader.abort()
    assert sinks and all(s.discarded for s in sinks)


# --- generated mails ------------------------------------------------------------------

_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=300)
_leaf = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(["plain", "html"]), _texts, st.sampled_from([None, "t.txt"]), st.sampled_from([None, "inline", "attachment"]), st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"])),
    st.tuples(st.just("bytes"), st.sampled_from(["pdf", "octet-stream"]), st.binary(max_size=400), st.sampled_from([None, "f.bin"]), st.sampled_from([None, "attachment"]), st.just("base64")),
)


def _tree(leaf):
    return st.recursive(leaf, lambda children: st.tuples(st.sampled_from(["mixed", "alternative", "related"]), st.lists(children, min_size=1, max_size=4)), max_leaves=8)


def _build(node) -> MIMEPart:
    if isinstance(node[1], list):
        subtype, children = node
        multipart = MIMEPart()
        multipart["Content-Type"] = f"multipart/{subtype}"
        multipart.set_payload([_build(child) for child in children])
        return multipart
    kind, subtype, content, filename, disposition, cte = node
    part = MIMEPart()
    if kind == "text":
        part.set_content(content, subtype=subtype, cte=cte if cte != "7bit" or content.isascii() else "8bit", disposition=disposition, filename=filename)
    else:
        part.set_content(content, maintype="application", subtype=subtype, cte="base64", disposition=disposition, filename=filename)
    return part


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tree(_leaf), st.integers(0, 1000))
def test_generated_mails_read_like_the_stdlib(tree, seed):
    message = EmailMessage()
    message["From"] = "gen@example.org"
    message["Subject"] = "generated"
    root = _build(tree)
    for name, value in root.items():
        message[name] = value
    message.set_payload(root.get_payload())
    try:
        raw = message.as_bytes()
    except UnicodeEncodeError:  # a combination the stdlib cannot write: not a mail
        assume(False)
    assert_same_reading(raw, seed)

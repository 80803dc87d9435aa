"""at.codec: raw bytes -> lines and prompts, final result codes; at.replies: information lines and URCs -> values.

Transcript tests are named after the device (or the issue) they come from. Every transcript is also fed a byte
at a time and as one blob: a line-based codec must not care how the serial driver cut the stream.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.at.codec import MAX_LINE, AtCodec, Final, LineReceived, PromptReceived, parse_final
from modemd.at.replies import (ReplyParseError, is_hex_line, is_solicited_registration, parse_cds_length,
                               parse_cdsi, parse_cmgl_header, parse_cmgr_header, parse_cmgs, parse_cmt_length,
                               parse_cmti, parse_cops, parse_cops_full, parse_cpin, parse_creg, parse_csca, parse_csq,
                               parse_rssi, parse_smmemfull, split_fields)
from modemd.domain.errors import CmeError, CmsError, CommandError

L = LineReceived
PROMPT = PromptReceived()

# (name, chunks as read from the port, expect_prompt, events)
TRANSCRIPTS = [
    ("quectel_ec25_csq_echo_on", [b"AT+CSQ\r\r\n+CSQ: 24,99\r\n\r\nOK\r\n"], False,
     [L("AT+CSQ"), L("+CSQ: 24,99"), L("OK")]),
    ("quectel_ec25_csq_echo_off", [b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"], False, [L("+CSQ: 24,99"), L("OK")]),
    ("quectel_ec25_boot_urcs", [b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n",
                                b"\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n"], False,
     [L("RDY"), L("+CFUN: 1"), L("+CPIN: READY"), L("+QUSIM: 1"), L("+QIND: SMS DONE"), L("+QIND: PB DONE")]),
    ("huawei_e3372_status_urcs", [b"\r\n^RSSI: 18\r\n\r\n^BOOT:20952,0,0,0,72\r\n\r\n^MODE:5,4\r\n",
                                  b"\r\n^SRVST:2\r\n\r\n^SIMST:1\r\n"], False,
     [L("^RSSI: 18"), L("^BOOT:20952,0,0,0,72"), L("^MODE:5,4"), L("^SRVST:2"), L("^SIMST:1")]),
    ("simcom_sim800_cmgs_prompt", [b"AT+CMGS=23\r", b"\r\n> "], True, [L("AT+CMGS=23"), PROMPT]),
    ("simcom_sim800_prompt_without_space", [b"\r\n>"], True, [PROMPT]),
    ("simcom_sim800_prompt_not_expected_stays_text", [b"\r\n> "], False, []),
    ("simcom_sim800_ready_urcs", [b"\r\nCall Ready\r\n\r\nSMS Ready\r\n"], False,
     [L("Call Ready"), L("SMS Ready")]),
    ("mbed_os_14448_split_cme_error", [b"\r\n+CME ERROR: operation not supp", b"orted\r\n"], False,
     [L("+CME ERROR: operation not supported")]),
    ("several_lines_in_one_read", [b"\r\n+CMGL: 1,0,,23\r\n0791\r\n+CMGL: 2,1,,20\r\n0792\r\n\r\nOK\r\n"], False,
     [L("+CMGL: 1,0,,23"), L("0791"), L("+CMGL: 2,1,,20"), L("0792"), L("OK")]),
    ("blank_lines_dropped", [b"\r\n\r\n\r\n   \r\nOK\r\n\r\n"], False, [L("OK")]),
    ("lfcr_terminators_some_huawei_firmware", [b"\n\r+CSQ: 10,99\n\r\n\rOK\n\r"], False,
     [L("+CSQ: 10,99"), L("OK")]),
    ("lone_cr_terminators_sim800", [b"OK\r+CMTI: \"SM\",1\r"], False, [L("OK"), L('+CMTI: "SM",1')]),
    ("lone_lf_terminators", [b"OK\n+CMTI: \"SM\",2\n"], False, [L("OK"), L('+CMTI: "SM",2')]),
    ("nul_bytes_stripped_usb_serial_glitch", [b"\x00\x00\r\nO\x00K\r\n\x00"], False, [L("OK")]),
    ("garbage_bytes_replaced_not_raised", [b"\xff\xfe\x80\r\nOK\r\n"], False, [L("\ufffd\ufffd\ufffd"), L("OK")]),
    ("cmt_two_line_urc_pdu_mode", [b"\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r\n"],
     False, [L("+CMT: ,24"), L("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")]),
    ("trailing_spaces_stripped", [b"\r\n+CPIN: READY  \r\n"], False, [L("+CPIN: READY")]),
]


def _feed_all(chunks, expect_prompt):
    codec = AtCodec()
    codec.expect_prompt = expect_prompt
    events = []
    for chunk in chunks:
        events += codec.feed(chunk)
    return events


@pytest.mark.parametrize("name, chunks, expect_prompt, expected", TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS])
def test_transcript_as_read(name, chunks, expect_prompt, expected):
    assert _feed_all(chunks, expect_prompt) == expected


@pytest.mark.parametrize("name, chunks, expect_prompt, expected", TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS])
def test_transcript_byte_at_a_time(name, chunks, expect_prompt, expected):
    data = b"".join(chunks)
    assert _feed_all([data[i:i + 1] for i in range(len(data))], expect_prompt) == expected


@pytest.mark.parametrize("name, chunks, expect_prompt, expected", TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS])
def test_transcript_as_one_blob(name, chunks, expect_prompt, expected):
    assert _feed_all([b"".join(chunks)], expect_prompt) == expected


def test_prompt_split_across_reads_is_consumed_and_space_ignored():
    codec = AtCodec()
    codec.expect_prompt = True
    assert codec.feed(b"\r\n>") == [PROMPT]
    codec.expect_prompt = False
    assert codec.feed(b" ") == []
    assert codec.feed(b"\r\n+CMGS: 5\r\n") == [L("+CMGS: 5")]


def test_gt_inside_text_is_not_a_prompt():
    codec = AtCodec()
    codec.expect_prompt = True
    assert codec.feed(b"\r\n>> x") == []
    assert codec.feed(b"\r\n") == [L(">> x")]


def test_line_without_terminator_is_capped():
    codec = AtCodec()
    events = codec.feed(b"A" * (3 * MAX_LINE + 5))
    assert [len(e.text) for e in events] == [MAX_LINE] * 3 and all(e.truncated for e in events)
    assert len(codec.pending) == 5
    assert codec.feed(b"\r\nOK\r\n") == [L("AAAAA"), L("OK")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_raise_and_memory_is_bounded(chunks):
    codec = AtCodec()
    codec.expect_prompt = True
    for chunk in chunks:
        for event in codec.feed(chunk):
            assert isinstance(event, (LineReceived, PromptReceived))
            if isinstance(event, LineReceived):
                assert event.text and "\r" not in event.text and "\n" not in event.text
        assert len(codec.pending) <= MAX_LINE


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["OK", "+CSQ: 1,2", '+CMTI: "SM",3', "ERROR"]), max_size=8),
       st.sampled_from([b"\r\n", b"\r", b"\n", b"\n\r"]), st.integers(min_value=1, max_value=7))
def test_any_split_any_terminator_same_lines(lines, terminator, size):
    data = b"".join(terminator + line.encode() + terminator for line in lines)
    events = _feed_all([data[i:i + size] for i in range(0, len(data), size)], False)
    assert [e.text for e in events] == lines


# ---- final result codes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, final", [
    ("OK", Final("OK", None, "OK")),
    ("ERROR", Final("ERROR", None, "ERROR")),
    ("+CME ERROR: 10", Final("+CME ERROR", 10, "")),
    ("+CME ERROR:14", Final("+CME ERROR", 14, "")),
    ("+CME ERROR: SIM PIN required", Final("+CME ERROR", 11, "SIM PIN required")),
    ("+CME ERROR: operation not supported", Final("+CME ERROR", 4, "operation not supported")),
    ("+CMS ERROR: 500", Final("+CMS ERROR", 500, "")),
    ("+CMS ERROR: unknown error", Final("+CMS ERROR", 500, "unknown error")),
    ("+cms error: 332", Final("+CMS ERROR", 332, "")),
    ("+CMS ERROR: some vendor text", Final("+CMS ERROR", None, "some vendor text")),
    ("NO CARRIER", Final("NO CARRIER", None, "NO CARRIER")),
    ("BUSY", Final("BUSY", None, "BUSY")),
    ("NO ANSWER", Final("NO ANSWER", None, "NO ANSWER")),
    ("NO DIALTONE", Final("NO DIALTONE", None, "NO DIALTONE")),
    ("COMMAND NOT SUPPORT", Final("COMMAND NOT SUPPORT", None, "COMMAND NOT SUPPORT")),   # ZTE / Huawei
])
def test_parse_final(line, final):
    assert parse_final(line) == final


@pytest.mark.parametrize("line", ["+CSQ: 20,99", "OKAY", "RING", "", "+CMGS: 5", "> ", "0011000B91"])
def test_not_final(line):
    assert parse_final(line) is None


def test_final_to_error():
    assert parse_final("OK").to_error("AT") is None and parse_final("OK").ok
    cme = parse_final("+CME ERROR: SIM busy").to_error("AT+CPIN?")
    assert isinstance(cme, CmeError) and cme.code == 14 and cme.command == "AT+CPIN?"
    cms = parse_final("+CMS ERROR: 42").to_error("AT+CMGS=23")
    assert isinstance(cms, CmsError) and cms.code == 42
    assert isinstance(parse_final("NO CARRIER").to_error(), CommandError)


# ---- reply parsers ---------------------------------------------------------------------------------------------

def test_split_fields_respects_quotes():
    assert [f.value for f in split_fields('1,"a,b",,3')] == ["1", "a,b", "", "3"]
    assert [f.quoted for f in split_fields('1,"a,b",,3')] == [False, True, False, False]


@pytest.mark.parametrize("line, mr", [("+CMGS: 7", 7), ("+CMGS: 255", 255), ("+CMGS:12", 12),
                                     ('+CMGS: 9,"24/01/01,12:00:00+04"', 9)])
def test_parse_cmgs(line, mr):
    assert parse_cmgs(line) == mr


def test_parse_cmgs_from_lines():
    assert parse_cmgs(["junk", "+CMGS: 44"]) == 44
    with pytest.raises(ReplyParseError):
        parse_cmgs(["+CMGS: x"])
    with pytest.raises(ReplyParseError):
        parse_cmgs(["OK"])


@pytest.mark.parametrize("line, rssi, ber, dbm", [
    ("+CSQ: 24,99", 24, None, -65), ("+CSQ: 99,99", None, None, None), ("+CSQ: 0,0", 0, 0, -113),
    ("+CSQ: 31,7", 31, 7, -51),
])
def test_parse_csq(line, rssi, ber, dbm):
    csq = parse_csq(line)
    assert (csq.rssi, csq.ber, csq.dbm) == (rssi, ber, dbm)
    assert parse_csq(line)[0] == rssi   # tuple access, as modem.py uses it


@pytest.mark.parametrize("line, expected", [
    # solicited AT+CREG? forms: +CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]
    ("+CREG: 0,1", ("+CREG", 1, 0, None, None, None, True)),
    ("+CREG: 2,5,\"00A1\",\"1234ABCD\",7", ("+CREG", 5, 2, "00A1", "1234ABCD", 7, True)),
    ("+CEREG: 1,2", ("+CEREG", 2, 1, None, None, None, True)),
    ("+CGREG: 2,1,\"1A2B\",\"01C3\",2,\"05\"", ("+CGREG", 1, 2, "1A2B", "01C3", 2, True)),
    # URC forms: +CREG: <stat>[,<lac>,<ci>[,<AcT>]]
    ("+CREG: 1", ("+CREG", 1, None, None, None, None, False)),
    ("+CREG: 5,\"00A1\",\"1234\"", ("+CREG", 5, None, "00A1", "1234", None, False)),
    ("+CEREG: 1,\"3A9C\",\"0B2C4A01\",7", ("+CEREG", 1, None, "3A9C", "0B2C4A01", 7, False)),
    ("+CGREG: 3", ("+CGREG", 3, None, None, None, None, False)),
])
def test_parse_creg_both_forms(line, expected):
    assert tuple(parse_creg(line)) == expected


def test_solicited_registration_shape():
    assert is_solicited_registration(split_fields("0,1"))
    assert not is_solicited_registration(split_fields('1,"00A1","1234"'))
    assert not is_solicited_registration(split_fields("1"))


@pytest.mark.parametrize("line, name, full", [
    ('+COPS: 0,0,"Vodafone UK",7', "Vodafone UK", (0, 0, "Vodafone UK", 7)),
    ('+COPS: 0,2,"23415",2', "23415", (0, 2, "23415", 2)),
    ("+COPS: 0", "", (0, None, "", None)),
    ('+COPS: 1,0,"Op, with comma"', "Op, with comma", (1, 0, "Op, with comma", None)),
])
def test_parse_cops(line, name, full):
    assert parse_cops(line) == name
    assert tuple(parse_cops_full(line)) == full


@pytest.mark.parametrize("line, state", [("+CPIN: READY", "READY"), ("+CPIN: SIM PIN", "SIM PIN"),
                                         ("+CPIN: SIM PUK", "SIM PUK"), ('+CPIN: "SIM PIN2"', "SIM PIN2"),
                                         ("+CPIN: PH-SIM PIN", "PH-SIM PIN"), ("+CPIN:ready", "READY")])
def test_parse_cpin(line, state):
    assert parse_cpin(line) == state


@pytest.mark.parametrize("line, expected", [('+CMTI: "SM",3', ("SM", 3)), ('+CMTI: "ME",12', ("ME", 12)),
                                            ('+CMTI: "SR",0', ("SR", 0))])
def test_parse_cmti(line, expected):
    assert parse_cmti(line) == expected


def test_parse_cdsi():
    assert parse_cdsi('+CDSI: "SR",2') == ("SR", 2) and parse_cdsi('+CDSI: "ME",0') == ("ME", 0)


@pytest.mark.parametrize("line, expected", [
    ("+CMT: ,24", 24),                                         # PDU mode, no <alpha> (Quectel EC25, SIM800)
    ('+CMT: "Mum",40', 40),                                    # PDU mode with a phonebook <alpha>
    ('+CMT: "+447700900123",,"24/01/01,12:00:00+04"', None),  # text mode: no TPDU length
])
def test_parse_cmt_length(line, expected):
    assert parse_cmt_length(line) == expected


@pytest.mark.parametrize("line, expected", [("^RSSI: 18", 18), ("^RSSI:3", 3), ("^RSSI: 99", None)])
def test_parse_rssi_huawei(line, expected):
    assert parse_rssi(line) == expected


@pytest.mark.parametrize("line, expected", [('^SMMEMFULL: "SM"', "SM"), ("^SMMEMFULL:ME", "ME"), ("^SMMEMFULL", "")])
def test_parse_smmemfull_huawei(line, expected):
    assert parse_smmemfull(line) == expected


@pytest.mark.parametrize("line, expected", [
    ("+CMGL: 1,0,,23", (1, 0, None, 23)),
    ('+CMGL: 4,1,"Mum",40', (4, 1, "Mum", 40)),
    ('+CMGL: 2,1,"",151', (2, 1, "", 151)),
])
def test_parse_cmgl_header(line, expected):
    assert tuple(parse_cmgl_header(line)) == expected


def test_parse_cmgr_header_and_cds_length():
    assert parse_cmgr_header("+CMGR: 0,,24") == (0, None, 24)
    assert parse_cds_length("+CDS: 25") == 25
    assert parse_cds_length('+CDS: 6,7,"+4477",145,"24/01/01,10:00:00+00","24/01/01,10:00:05+00",0') is None


@pytest.mark.parametrize("line, expected", [('+CSCA: "+447785016005",145', ("+447785016005", 145)),
                                            ('+CSCA: "",129', ("", 129)), ('+CSCA: "+15555550000"', ("+15555550000", None))])
def test_parse_csca(line, expected):
    assert parse_csca(line) == expected


@pytest.mark.parametrize("parser, line", [(parse_csq, "+CSQ: abc"), (parse_cmti, '+CMTI: "SM"'),
                                          (parse_cdsi, '+CDSI: "SR",x'), (parse_rssi, "^RSSI: -"),
                                          (parse_cmgl_header, "+CMGL: 1,0"), (parse_cpin, "+CPIN: "),
                                          (parse_creg, "+COPS: 0"), (parse_csq, "+CREG: 1")])
def test_malformed_replies_raise_value_error(parser, line):
    with pytest.raises(ValueError):
        parser(line)


def test_is_hex_line():
    assert is_hex_line("0011000B91") and is_hex_line("00ff\x1a") and not is_hex_line("OK")
    assert not is_hex_line("") and not is_hex_line("+CMGS: 5")

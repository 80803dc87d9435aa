// tests/test_twilio_e2e.py runs docs/twilio.md's Node block (which makes `client`) followed by this: one Verify
// operation per run, its outcome as one JSON line (a RestException as {"error": {status, code, moreInfo}}).
const [operation, service, to, code, sid] = process.argv.slice(2);
const verify = client.verify.v2.services(service);
const operations = {
  create: () => verify.verifications.create({ to, channel: "sms" }),
  check: () => verify.verificationChecks.create({ to, code }),
  fetch: () => verify.verifications(sid).fetch(),
  cancel: () => verify.verifications(sid).update({ status: "canceled" }),
};
operations[operation]()
  .then((r) => console.log(JSON.stringify({ sid: r.sid, status: r.status, valid: r.valid, to: r.to })))
  .catch((e) => console.log(JSON.stringify({ error: { status: e.status, code: e.code, moreInfo: e.moreInfo } })));

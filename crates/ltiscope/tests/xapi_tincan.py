"""Sends statements to a running ltiscope with TinCanPython (the `tincan` package from PyPI),
an xAPI client ltiscope does not control. Prints the statement ids it believes were stored,
one per line. Usage: python3 xapi_tincan.py ENDPOINT KEY"""
import sys
import uuid

from tincan import Activity, Agent, AgentAccount, RemoteLRS, Statement, Verb

endpoint, key = sys.argv[1], sys.argv[2]
lrs = RemoteLRS(version="1.0.1", endpoint=endpoint, auth="Bearer " + key)


def statement(n, with_id):
    s = Statement(
        actor=Agent(account=AgentAccount(home_page="https://lrs.example.edu", name="student-%d" % n)),
        verb=Verb(id="http://adlnet.gov/expapi/verbs/experienced"),
        object=Activity(id="https://example.edu/activities/%d" % n),
    )
    if with_id:
        s.id = str(uuid.uuid4())
    return s


ids = []
# POST without an id (ltiscope assigns one; tincan sends a trailing "?" and a "version" field).
r = lrs.save_statement(statement(1, False))
assert r.success, (r.response.status, r.data)
ids.append(str(r.content.id))
# PUT with an id, twice: the retry must be accepted as a duplicate.
s = statement(2, True)
for _ in range(2):
    r = lrs.save_statement(s)
    assert r.success, (r.response.status, r.data)
ids.append(str(s.id))
# POST a list.
batch = [statement(3, True), statement(4, False)]
r = lrs.save_statements(batch)
assert r.success, (r.response.status, r.data)
ids.extend(str(x.id) for x in r.content)
for i in ids:
    print(i)

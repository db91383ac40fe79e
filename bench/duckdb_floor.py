# DuckDB's own insert floor for rows shaped like ltiscope's
# (docs/benchmarks-history.md, "What DuckDB itself needs"): N synthetic Blackboard launches
# (the seed LTIEvent with fresh ids, minus the fields redaction removes) as ready-made Arrow
# columns, inserted into event_keys, events and launches on one DuckDB thread in transactions
# of two row groups; prints this process's CPU per event for each step. Nothing of ltiscope
# runs: it is the cost of storing alone. Python's wheel compresses zstd at level 3, where
# ltiscope's own build uses level 1 (.cargo/config.toml); examples/storage_floor measures
# with that build, on the rows an import stored.
#
# Usage: pip install duckdb==2.0.0 pyarrow; BODYCOMP='USING COMPRESSION zstd' python3 bench/duckdb_floor.py 245760
import json, random, uuid, time, os, sys, resource
import duckdb, pyarrow as pa
N = int(sys.argv[1]); TX = 245760
random.seed(1)
base = json.load(open(os.path.join(os.path.dirname(__file__), '..', 'crates/ltiscope-ingest/tests/data/blackboard/lti-event-loggedin.json')))
lp = base['object']['launchParameters']
for k in ('ext_launch_presentation_css_url','custom_tc_profile_url','custom_caliper_profile_url'): lp.pop(k)
base.pop('session', None)
for k in list(lp):
    if k.startswith('oauth_signature') or k in ('oauth_nonce','lis_result_sourcedid') or 'name' in k or 'email' in k:
        lp.pop(k)
site = str(uuid.uuid4())
users = [uuid.uuid4().hex for _ in range(20000)]
courses = [f"_{i}_1" for i in range(2000)]
tools = [f"https://tool{i}.example.com/lti/launch" for i in range(40)]
keys, bodies, lrows = [], [], {c: [] for c in ['source','tenant','event_id','action','user_key','user_platform_id','user_iri','user_external_id','role','roles_raw','course_key','course_platform_id','course_iri','course_label','course_title','course_number','tool_id','tool_name','tool_match','launch_url','launch_host','consumer_key','lti_version','message_type','resource_link_id','launch_id','session_id','locale']}
ints = {c: [] for c in ['user_hash','course_hash','visit_key']}
times = []
t0 = 1767225600_000000
for i in range(N):
    eid = str(uuid.uuid4()); lid = str(uuid.uuid4()); u = random.choice(users); c = random.choice(courses); t = random.choice(tools)
    e = base
    e['id'] = eid; e['actor']['id'] = f"https://caliper-mapping.cloudbb.blackboard.com/v1/sites/{site}/users/{u}"
    e['object']['id'] = f"https://caliper-mapping.cloudbb.blackboard.com/v1/sites/{site}/ltiLaunches/{lid}"
    lp['ext_launch_id'] = lid; lp['user_id'] = u; lp['context_id'] = c; lp['resource_link_id'] = f"_{random.randint(1,90000)}_1"
    e['object']['launchUrl'] = t; e['eventTime'] = f"2026-02-{random.randint(1,28):02}T10:{random.randint(0,59):02}:00.000Z"
    bodies.append(json.dumps(e, separators=(',',':')))
    keys.append(random.getrandbits(120))
    times.append(t0 + i * 1000000)
    v = lrows
    v['source'].append('blackboard-caliper'); v['tenant'].append(site); v['event_id'].append(eid); v['action'].append('launch')
    v['user_key'].append(u); v['user_platform_id'].append('_%d_1' % hash(u) ); v['user_iri'].append(e['actor']['id']); v['user_external_id'].append('ext' + u[:8])
    v['role'].append(random.choice(['learner']*9+['instructor'])); v['roles_raw'].append('["urn:lti:role:ims/lis/Learner"]')
    v['course_key'].append(c); v['course_platform_id'].append(c); v['course_iri'].append(None); v['course_label'].append('LBL' + c); v['course_title'].append('Course ' + c); v['course_number'].append(None)
    v['tool_id'].append(t[8:20]); v['tool_name'].append(t[8:20].upper()); v['tool_match'].append('domain'); v['launch_url'].append(t); v['launch_host'].append(t[8:26])
    v['consumer_key'].append('key' + t[12:14]); v['lti_version'].append('LTI-1p0'); v['message_type'].append('basic-lti-launch-request')
    v['resource_link_id'].append(lp['resource_link_id']); v['launch_id'].append(lid); v['session_id'].append(uuid.uuid4().hex.upper()); v['locale'].append('en-US')
    ints['user_hash'].append(random.getrandbits(63)); ints['course_hash'].append(random.getrandbits(63)); ints['visit_key'].append(random.getrandbits(63))
print('avg body', sum(map(len, bodies)) / N, file=sys.stderr)
path = os.path.join(os.environ.get('WORK', '/tmp'), 'duckdb_floor.duckdb')
for p in (path, path + '.wal'):
    if os.path.exists(p): os.remove(p)
con = duckdb.connect(path)
con.execute("SET threads=1; SET memory_limit='256MB'; SET checkpoint_threshold='1GB'; SET preserve_insertion_order=true")
con.execute("CREATE TABLE event_keys (event_key HUGEINT PRIMARY KEY)")
con.execute(f"""CREATE TABLE events (event_key HUGEINT NOT NULL, source VARCHAR NOT NULL, tenant VARCHAR NOT NULL, event_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, event_type VARCHAR NOT NULL, action VARCHAR NOT NULL, event_time TIMESTAMP NOT NULL, received_at TIMESTAMP NOT NULL, body VARCHAR NOT NULL {os.environ.get("BODYCOMP","")})""")
lcols = "event_key HUGEINT, source VARCHAR, tenant VARCHAR, event_id VARCHAR, action VARCHAR, event_time TIMESTAMP, received_at TIMESTAMP, user_key VARCHAR, user_hash BIGINT, user_platform_id VARCHAR, user_iri VARCHAR, user_external_id VARCHAR, role VARCHAR, roles_raw VARCHAR, test_user BOOLEAN, impersonator VARCHAR, course_key VARCHAR, course_hash BIGINT, course_platform_id VARCHAR, course_iri VARCHAR, course_label VARCHAR, course_title VARCHAR, course_number VARCHAR, org_unit_type VARCHAR, tool_id VARCHAR, tool_name VARCHAR, tool_match VARCHAR, launch_url VARCHAR, launch_host VARCHAR, consumer_key VARCHAR, client_id VARCHAR, deployment_id VARCHAR, tool_provider_id VARCHAR, lti_version VARCHAR, message_type VARCHAR, resource_link_id VARCHAR, launch_id VARCHAR, session_id VARCHAR, locale VARCHAR, metrics VARCHAR, visit_key BIGINT"
con.execute(f"CREATE TABLE launches ({lcols})")
def dec(xs): return pa.array([str(x) for x in xs]).cast(pa.decimal128(38, 0))
spent = {'keys': 0.0, 'events': 0.0, 'launches': 0.0, 'commit': 0.0}
for s in range(0, N, TX):
    sl = slice(s, min(N, s + TX)); n = sl.stop - sl.start
    k = dec(keys[sl]); tm = pa.array(times[sl], pa.timestamp('us'))
    kt = pa.table({'event_key': k})
    et = pa.table({'event_key': k, 'source': ['blackboard-caliper']*n, 'tenant': lrows['tenant'][sl], 'event_id': lrows['event_id'][sl], 'kind': ['launch']*n, 'event_type': ['http://caliper.blackboard.com/caliper/v1/LTIEvent']*n, 'action': ['LoggedIn']*n, 'event_time': tm, 'received_at': tm, 'body': bodies[sl]})
    cols = {'event_key': k}
    for name in lcols.split(', '):
        c = name.split()[0]
        if c in lrows: cols[c] = pa.array(lrows[c][sl], pa.string())
        elif c in ints: cols[c] = pa.array(ints[c][sl], pa.int64())
        elif c in ('event_time', 'received_at'): cols[c] = tm
        elif c == 'test_user': cols[c] = pa.array([False]*n)
        elif c != 'event_key': cols[c] = pa.array([None]*n, pa.string())
    lt = pa.table(cols)
    con.execute("BEGIN")
    for name, tbl, sql in (('keys', kt, "INSERT INTO event_keys SELECT event_key FROM kt"), ('events', et, "INSERT INTO events SELECT * FROM et"), ('launches', lt, "INSERT INTO launches SELECT * FROM lt")):
        a = time.process_time(); con.execute(sql); spent[name] += time.process_time() - a
    a = time.process_time(); con.execute("COMMIT"); spent['commit'] += time.process_time() - a
a = time.process_time(); con.execute("CHECKPOINT"); spent['checkpoint'] = time.process_time() - a
con.close()
tot = sum(spent.values())
print({k: f"{v/N*1e6:.1f} us/event" for k, v in spent.items()}, f"total {tot/N*1e6:.1f} us/event", 'db MB', os.path.getsize(path)/1e6)

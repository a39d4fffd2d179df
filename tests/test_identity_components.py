"""Identity: the components that become persons, against an oracle written apart from the SQL.

``engine.finalise`` folds every record tied to a register person into that person before it propagates labels over
the remaining edges (records matched among themselves, steward matches, a record tied to a second person). Whatever
the graph, each record must land in the component a plain union-find over all edges gives, labelled by the least
node in it, with the least CPR of the register persons in it."""

from __future__ import annotations

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samlet_overblik.identity import engine


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@st.composite
def graphs(draw):
    n_rec = draw(st.integers(1, 25))
    n_ent = draw(st.integers(0, 12))
    records = st.integers(0, n_rec - 1)
    links = draw(st.lists(st.tuples(records, st.integers(0, max(n_ent - 1, 0))), max_size=30)) if n_ent else []
    edges = draw(st.lists(st.tuples(records, records).filter(lambda e: e[0] != e[1]), max_size=15))
    matches = draw(st.lists(st.tuples(records, records).filter(lambda e: e[0] != e[1]), max_size=5))
    return n_rec, n_ent, sorted(set(links)), edges, matches


def oracle(n_rec, n_ent, links, edges, matches):
    """Each record's (least node of its component, least CPR in it) by union-find over every edge; register person
    ``e`` is node ``n_rec + e``, as in the engine."""
    uf = UnionFind()
    for r in range(n_rec):
        uf.find(r)
    for r, e in links:
        uf.union(r, n_rec + e)
    for a, b in [*edges, *matches]:
        uf.union(a, b)
    members: dict[int, list[int]] = {}
    for node in list(uf.parent):
        members.setdefault(uf.find(node), []).append(node)
    out = {}
    for r in range(n_rec):
        group = members[uf.find(r)]
        cprs = [f"{e - n_rec:010d}" for e in group if e >= n_rec]
        out[r] = (min(group), min(cprs) if cprs else None)
    return out


def insert(con, sql: str, rows) -> None:
    if rows:
        con.executemany(sql, rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_every_record_lands_in_the_component_union_find_gives(graph):
    n_rec, n_ent, links, edges, matches = graph
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE id_rec AS SELECT range AS rid FROM range({n_rec})")
    con.execute(f"CREATE TEMP TABLE id_ent AS SELECT range AS eid, lpad(CAST(range AS VARCHAR), 10, '0') AS cpr FROM range({n_ent})")
    con.execute("CREATE TEMP TABLE id_linked (rid BIGINT, eid BIGINT, method VARCHAR, score DOUBLE)")
    insert(con, "INSERT INTO id_linked VALUES (?, ?, 'cpr_exact', 1.0)", links)
    con.execute("CREATE TEMP TABLE id_edges (rid BIGINT, eid BIGINT, score DOUBLE, method VARCHAR)")
    insert(con, "INSERT INTO id_edges VALUES (?, ?, 0.9999, 'probabilistic')", edges)
    con.execute("CREATE TEMP TABLE id_in_decisions (rid_a BIGINT, rid_b BIGINT, decision VARCHAR)")
    insert(con, "INSERT INTO id_in_decisions VALUES (?, ?, 'match')", matches)
    lev = "STRUCT(gn INT, fn INT, dob INT, sex INT, addr INT, nid INT)"
    con.execute(f"CREATE TEMP TABLE id_review_reg (rid BIGINT, eid BIGINT, w DOUBLE, score DOUBLE, lev {lev})")
    con.execute(f"CREATE TEMP TABLE id_review_rec (rid BIGINT, eid BIGINT, w DOUBLE, score DOUBLE, lev {lev})")

    engine.finalise(con)

    got = {rid: (comp, cpr) for rid, comp, cpr in con.execute("SELECT rid, comp, cpr FROM id_out").fetchall()}
    assert got == oracle(n_rec, n_ent, links, edges, matches)
    con.close()

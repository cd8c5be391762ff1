# bench/lib.sh: what the benchmarks share (sourced).
#
# journal_entries DB ROWS SPAN_DAYS: the benchmarks' table in database DB --
# ROWS journal entries over the SPAN_DAYS days before now (seeded, so every
# run has the same rows), the (tenant_id, created_at) index an application
# would have, frozen, analyzed and checkpointed.
journal_entries() {
    PGDATABASE=$1 psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE public.journal_entries (
    id bigserial PRIMARY KEY,
    tenant_id integer NOT NULL,
    account text NOT NULL,
    amount numeric(14, 2) NOT NULL,
    memo text,
    created_at timestamptz NOT NULL DEFAULT now()
);
SELECT setseed(0.42) \g /dev/null
INSERT INTO public.journal_entries (tenant_id, account, amount, memo, created_at)
SELECT 1 + (g % 50), 'acct-' || (g % 400), round((random() * 20000 - 10000)::numeric, 2),
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'line ' || g END,
       now() - random() * interval '$3 days'
FROM generate_series(1, $2) g;
CREATE INDEX journal_entries_tenant_created_idx ON public.journal_entries (tenant_id, created_at);
VACUUM FREEZE ANALYZE public.journal_entries;
CHECKPOINT;
SQL
}

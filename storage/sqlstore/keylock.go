package sqlstore

import (
	"context"
	"strconv"

	"github.com/actiontrigger/actiontrigger/storage"
)

var _ storage.KeyLocker = (*Store)(nil)

// workflowKeyLockSpace is the first key of the two-key advisory locks that
// serialise saves of one workflow key (the second is the key's hash); it
// differs from advisoryLockKey, the schema lock.
const workflowKeyLockSpace = 0x61745746 // "atWF"

// LockWorkflowKey implements storage.KeyLocker: on PostgreSQL it takes a
// transaction-level advisory lock on the key's hash, released when the unit
// of work ends. On SQLite a unit of work already holds the single write lock,
// and it does nothing.
func (s *Store) LockWorkflowKey(ctx context.Context, key string) error {
	if s.st.d != PostgreSQL {
		return nil
	}
	return s.write(ctx, false, func(q querier) error {
		_, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(workflowKeyLockSpace)+", hashtext($1))", key)
		return s.st.mapErr(err, "lock workflow key "+key)
	})
}

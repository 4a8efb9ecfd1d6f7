/*
 * view.c - bstm_view_*: what a transaction function sees.
 *
 * Every access first consults the transaction-local map (own writes and
 * earlier reads, so a key read twice yields the same bytes). A miss goes to
 * the block state: in parallel mode the multi-version memory (captured with
 * the version seen, for validation) and then the base view, whose values are
 * cached once per key in the multi-version entry; in sequential mode the
 * block overlay and then the base view, cached in the overlay. The two paths
 * do the same amount of work per access, so the baseline is fair. A serial
 * segment of a parallel run (parallel.c) reads like sequential mode, with the
 * state committed below the segment in place of the base view.
 */
#include <pthread.h>
#include <string.h>

#include "common/hash.h"
#include "executor/executor.h"

static const mvm_version exec_base_absent __attribute__((aligned(16))) = {
	.value = NULL, .len = 0, .flags = MVM_VERSION_DELETED, .txn_idx = MVM_TXN_STORAGE};

int exec_view_init(bstm_view *v, uint32_t worker_id)
{
	memset(v, 0, sizeof *v);
	v->worker_id = worker_id;
	return exec_map_init(&v->local, 64);
}

void exec_view_destroy(bstm_view *v)
{
	exec_map_destroy(&v->local);
	free(v->events);
	v->events = NULL;
	free(v->created);
	v->created = NULL;
}

mvm_entry *exec_view_entry(bstm_view *v, const void *key, uint32_t len, uint64_t hash)
{
	bool made;
	mvm_entry *e = mvm_find_or_insert(&v->run->ex->mv, v->arena, key, len, hash, &made);
	if (!e || !made)
		return e;
	if (v->created_count == v->created_cap) {
		size_t cap = v->created_cap ? v->created_cap * 2 : 1024;
		mvm_entry **grown = realloc(v->created, sizeof *grown * cap);
		if (!grown)
			return NULL; /* fails the block: the list must name every key */
		v->created = grown;
		v->created_cap = cap;
	}
	v->created[v->created_count++] = e;
	return e;
}

void exec_view_begin(bstm_view *v, enum exec_mode mode, exec_block_run *run, uint32_t txn,
		     bool final)
{
	exec_map_clear(&v->local);
	v->mode = mode;
	v->run = run;
	v->txn = txn;
	v->final = final;
	v->blocked = false;
	v->chained = false;
	v->error = 0;
	v->fatal = false;
	v->event_count = 0;
}

int exec_base_get(exec_block_run *run, const void *key, size_t len, const void **value,
		  size_t *value_len)
{
	const bstm_base_view *base = run->base;
	*value = NULL;
	*value_len = 0;
	if (run->base_lock)
		pthread_mutex_lock(run->base_lock);
	int rc = base->get(base->ctx, key, len, value, value_len);
	if (run->base_lock)
		pthread_mutex_unlock(run->base_lock);
	if (rc == BSTM_ENOTFOUND || rc == 0) {
		if (rc == 0 &&
		    ((*value == NULL && *value_len != 0) || *value_len > BSTM_MAX_VALUE_LEN))
			return BSTM_ESTORAGE;
		return rc;
	}
	/* Codes that name the library's own failures would mislead the caller
	 * (and ETXN, EINTERNAL would ask for the sequential retry), and EINVAL,
	 * ETOOBIG reject a single call of the transaction function, which a
	 * failed get() does not, and EBUSY refuses a whole block call; from
	 * storage they, like a positive code, can only be a broken view.
	 * BSTM_DEPENDENCY means something else to the transaction function. */
	if (rc >= 0 || rc == BSTM_DEPENDENCY || rc == BSTM_ETXN || rc == BSTM_EINTERNAL ||
	    rc == BSTM_ETHREAD || rc == BSTM_EINVAL || rc == BSTM_ETOOBIG || rc == BSTM_EBUSY)
		return BSTM_ESTORAGE;
	return rc;
}

/* The library's own failure (out of memory, a broken invariant): it stops a
 * parallel run at once, whichever incarnation met it. */
static int fail(bstm_view *v, int code)
{
	v->error = code;
	v->fatal = true;
	return code;
}

/* A failure of the base view: it belongs to the incarnation that read it,
 * and fails the block only if that incarnation commits (the sequential
 * order then meets it too), whatever the code. */
static int fail_storage(bstm_view *v, int code)
{
	if (!v->fatal) /* the library's own failure is the one reported */
		v->error = code;
	return code;
}

static int check_key(const void *key, size_t len)
{
	if (!key && len)
		return BSTM_EINVAL;
	return len > BSTM_MAX_KEY_LEN ? BSTM_ETOOBIG : 0;
}

static int answer(const exec_item *it, const void **value, size_t *value_len)
{
	if (it->flags & EXEC_ITEM_DELETED) {
		*value = NULL;
		*value_len = 0;
		return BSTM_ENOTFOUND;
	}
	*value = it->value;
	*value_len = it->value_len;
	return 0;
}

/* The base value of a multi-version entry, fetched once per block. */
static int entry_base(bstm_view *v, mvm_entry *e, const mvm_version **out)
{
	const mvm_version *b = atomic_load_explicit(&mvm_links(e)->base, memory_order_acquire);
	if (b) {
		*out = b;
		return 0;
	}
	const void *value;
	size_t len;
	int rc = exec_base_get(v->run, e->key, e->key_len, &value, &len);
	if (rc == BSTM_ENOTFOUND) {
		b = &exec_base_absent;
	} else if (rc < 0) {
		return rc;
	} else {
		mvm_version *nb = bstm_arena_alloc(v->arena, sizeof *nb);
		if (!nb)
			return fail(v, BSTM_ENOMEM);
		*nb = (mvm_version){.value = value,
				    .len = (uint32_t)len,
				    .flags = 0,
				    .txn_idx = MVM_TXN_STORAGE};
		b = nb;
	}
	*out = mvm_set_base(e, b);
	return 0;
}

static int read_parallel(bstm_view *v, const void *key, uint32_t len, uint64_t hash,
			 const void **value, size_t *value_len)
{
	struct bstm_executor *ex = v->run->ex;
	mvm_entry *e = exec_view_entry(v, key, len, hash);
	if (!e)
		return fail(v, BSTM_ENOMEM);
	mvm_read_result r;
	for (;;) {
		mvm_read(e, v->txn, &r);
		if (r.kind != MVM_READ_ESTIMATE)
			break;
		if (v->final) /* lower transactions are committed: cannot happen */
			return fail(v, BSTM_EINTERNAL);
		enum sched_status bs = sched_word_status(sched_load_word(&ex->sc, r.blocking_txn));
		if (bs == SCHED_EXECUTED || bs == SCHED_COMMITTED)
			continue; /* finished meanwhile: its new value is there */
		/* The dependency is registered only after the transaction function
		 * has returned (run_execution): registering here would let the
		 * blocker's finish make this transaction READY, and another worker
		 * start its next incarnation, while this call is still running. */
		v->blocked = true;
		v->blocking_txn = r.blocking_txn;
		return BSTM_DEPENDENCY;
	}
	const mvm_version *ver = r.version;
	int rc = r.kind == MVM_READ_STORAGE ? entry_base(v, e, &ver) : 0;
	if (v->fatal)
		return v->error;
	/* A read that storage failed is captured like any other (as a read of
	 * storage): if a lower transaction writes the key later, validation
	 * fails and the redo reads that write, as the sequential order does,
	 * never asking storage. Only an incarnation that validates keeps the
	 * error (and then fails the block at its commit). */
	if (rc < 0)
		ver = &exec_base_absent;
	exec_item *it = exec_map_insert(&v->local, e->key, len, hash);
	if (!it)
		return fail(v, BSTM_ENOMEM);
	it->flags = EXEC_ITEM_READ | ((ver->flags & MVM_VERSION_DELETED) ? EXEC_ITEM_DELETED : 0);
	it->value = ver->value;
	it->value_len = ver->len;
	it->entry = e;
	it->observed = r.kind == MVM_READ_STORAGE ? NULL : ver;
	return rc < 0 ? fail_storage(v, rc) : answer(it, value, value_len);
}

/* A serial segment's view of the state below its overlay: the state
 * committed before the segment (every writer below serial_from is
 * committed, so what the multi-version memory holds for them is final). */
static int committed_get(bstm_view *v, const void *key, uint32_t len, uint64_t hash,
			 const void **value, size_t *value_len)
{
	mvm_entry *e = mvm_find(&v->run->ex->mv, key, len, hash);
	if (!e)
		return exec_base_get(v->run, key, len, value, value_len);
	mvm_read_result r;
	mvm_read(e, v->run->serial_from, &r);
	const mvm_version *ver = r.version;
	if (r.kind == MVM_READ_ESTIMATE)
		return fail(v, BSTM_EINTERNAL); /* below the commit index: cannot happen */
	if (r.kind == MVM_READ_STORAGE) {
		int rc = entry_base(v, e, &ver);
		if (rc < 0)
			return rc;
	}
	if (ver->flags & MVM_VERSION_DELETED) {
		*value = NULL;
		*value_len = 0;
		return BSTM_ENOTFOUND;
	}
	*value = ver->value;
	*value_len = ver->len;
	return 0;
}

static int read_sequential(bstm_view *v, const void *key, uint32_t len, uint64_t hash,
			   const void **value, size_t *value_len)
{
	struct bstm_executor *ex = v->run->ex;
	exec_item *state = exec_map_find(&ex->overlay, key, len, hash);
	if (!state) {
		const void *bv;
		size_t blen;
		int rc = v->mode == EXEC_MODE_SERIAL ? committed_get(v, key, len, hash, &bv, &blen)
						     : exec_base_get(v->run, key, len, &bv, &blen);
		if (v->fatal)
			return v->error;
		if (rc < 0 && rc != BSTM_ENOTFOUND)
			return fail_storage(v, rc);
		const uint8_t *kcopy = bstm_arena_dup(v->arena, key, len);
		if (!kcopy)
			return fail(v, BSTM_ENOMEM);
		state = exec_map_insert(&ex->overlay, kcopy, len, hash);
		if (!state)
			return fail(v, BSTM_ENOMEM);
		state->flags = EXEC_ITEM_BASE | (rc == BSTM_ENOTFOUND ? EXEC_ITEM_DELETED : 0);
		state->value = bv;
		state->value_len = (uint32_t)blen;
	} else if (v->mode == EXEC_MODE_SERIAL && (state->flags & EXEC_ITEM_WRITE) &&
		   v->txn - state->writer <= sched_serial_near(&v->run->ex->sc)) {
		v->chained = true; /* see run_serial_segment */
	}
	exec_item *it = exec_map_insert(&v->local, state->key, len, hash);
	if (!it)
		return fail(v, BSTM_ENOMEM);
	it->flags = EXEC_ITEM_READ | (state->flags & EXEC_ITEM_DELETED);
	it->value = state->value;
	it->value_len = state->value_len;
	return answer(it, value, value_len);
}

int bstm_view_read(bstm_view *v, const void *key, size_t key_len, const void **value,
		   size_t *value_len)
{
	if (!v || !value || !value_len)
		return BSTM_EINVAL;
	int rc = check_key(key, key_len);
	if (rc)
		return rc;
	if (v->error)
		return v->error;
	uint32_t len = (uint32_t)key_len;
	uint64_t hash = bstm_hash_bytes(key, len);
	exec_item *it = exec_map_find(&v->local, key, len, hash);
	if (it)
		return answer(it, value, value_len);
	if (v->mode == EXEC_MODE_PARALLEL)
		return read_parallel(v, key, len, hash, value, value_len);
	return read_sequential(v, key, len, hash, value, value_len);
}

static int put(bstm_view *v, const void *key, size_t key_len, const void *value, size_t value_len,
	       bool is_delete)
{
	if (!v)
		return BSTM_EINVAL;
	int rc = check_key(key, key_len);
	if (rc)
		return rc;
	if (!is_delete && !value && value_len)
		return BSTM_EINVAL;
	if (value_len > BSTM_MAX_VALUE_LEN)
		return BSTM_ETOOBIG;
	if (v->error)
		return v->error;
	uint32_t len = (uint32_t)key_len;
	uint64_t hash = bstm_hash_bytes(key, len);
	exec_item *it = exec_map_find(&v->local, key, len, hash);
	if (!it) {
		const uint8_t *stable_key;
		mvm_entry *e = NULL;
		if (v->mode == EXEC_MODE_PARALLEL) {
			e = exec_view_entry(v, key, len, hash);
			if (!e)
				return fail(v, BSTM_ENOMEM);
			stable_key = e->key;
		} else {
			stable_key = bstm_arena_dup(v->arena, key, len);
			if (!stable_key)
				return fail(v, BSTM_ENOMEM);
		}
		it = exec_map_insert(&v->local, stable_key, len, hash);
		if (!it)
			return fail(v, BSTM_ENOMEM);
		it->entry = e;
	}
	it->flags = (it->flags & EXEC_ITEM_READ) | EXEC_ITEM_WRITE;
	if (is_delete) {
		it->flags |= EXEC_ITEM_DELETED;
		it->value = NULL;
		it->value_len = 0;
		return 0;
	}
	const uint8_t *copy = bstm_arena_dup(v->arena, value, value_len);
	if (!copy)
		return fail(v, BSTM_ENOMEM);
	it->value = copy;
	it->value_len = (uint32_t)value_len;
	return 0;
}

int bstm_view_write(bstm_view *v, const void *key, size_t key_len, const void *value,
		    size_t value_len)
{
	return put(v, key, key_len, value, value_len, false);
}

int bstm_view_delete(bstm_view *v, const void *key, size_t key_len)
{
	return put(v, key, key_len, NULL, 0, true);
}

int bstm_view_emit(bstm_view *v, const void *data, size_t len)
{
	if (!v || (!data && len))
		return BSTM_EINVAL;
	if (len > BSTM_MAX_VALUE_LEN)
		return BSTM_ETOOBIG;
	if (v->error)
		return v->error;
	if (v->event_count == v->event_cap) {
		uint32_t cap = v->event_cap ? v->event_cap * 2 : 8;
		bstm_event *grown = realloc(v->events, sizeof *grown * cap);
		if (!grown)
			return fail(v, BSTM_ENOMEM);
		v->events = grown;
		v->event_cap = cap;
	}
	const uint8_t *copy = bstm_arena_dup(v->arena, data, len);
	if (!copy)
		return fail(v, BSTM_ENOMEM);
	v->events[v->event_count++] = (bstm_event){.data = copy, .len = (uint32_t)len};
	return 0;
}

uint32_t bstm_view_txn_index(const bstm_view *v)
{
	return v ? v->txn : 0;
}

uint32_t bstm_view_worker(const bstm_view *v)
{
	return v ? v->worker_id : 0;
}

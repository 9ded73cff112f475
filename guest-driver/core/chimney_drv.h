/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic portable driver core: the command/event path.
 *
 * The one owner of the device's command (CMD), event (EVT) and receive
 * indication (IND) rings: it brings them up, queues every command (the L2
 * driver's NOP as well as the offload state operations and data
 * requests), consumes every event and dispatches it, and hands received
 * indications to the host.  It
 * turns NDIS-shaped offload block trees the host stack builds in ordinary
 * memory into the device's ChimneyBlock trees in one DMA buffer, submits
 * the five state operations and the configuration commands, and on each
 * completion copies the per-block results back into the host tree before
 * calling the host, the way NdisMXxxOffloadComplete does.  Unsolicited
 * events (link, status, TCP object events) go to host callbacks.
 *
 * The L2 TX/RX rings (chimney_ring.h), interrupts (INT_MASK/INT_CAUSE,
 * MSI-X) and device reset stay with the OS driver.  The OS calls
 * chimney_drv_process_events() from its EVT interrupt or poll routine
 * (with the IND ring running, on INT_IND as well: the call also reclaims
 * IND descriptors the device completed in error).
 *
 * Plain C; every OS service comes through struct chimney_os_ops
 * (chimney_os.h).  The ABI (register offsets, descriptor and block
 * formats, statuses) is include/hw/net/chimney_hw.h.  Spec:
 * docs/specs/chimney-nic.rst.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#ifndef CHIMNEY_DRV_H
#define CHIMNEY_DRV_H

#include "chimney_os.h"
#include "hw/net/chimney_hw.h"

/* Commands in flight at most (also bounded by the CMD ring size - 1). */
#define CHIMNEY_DRV_MAX_PENDING		64u
/* Levels of a tree: neighbor -> path -> TCP. */
#define CHIMNEY_DRV_TREE_MAX_DEPTH	3u
/* Bytes of state the core accepts after one block (device limit: 4096). */
#define CHIMNEY_DRV_MAX_STATE		4096u
/* IND ring: at most this many slots (the core keeps one buffer per slot). */
#define CHIMNEY_DRV_IND_RING_MAX	256u
/* IND ring: bytes of one buffer at most. */
#define CHIMNEY_DRV_IND_BUF_MAX		65536u

/*
 * Cookies.  Every command descriptor carries a cookie the device echoes in
 * its CMD_DONE.  The core makes the cookies of its own commands (state
 * operations, configuration, QUERY_STATS, IND_DONE, raw commands): they
 * always have bit 63 (CHIMNEY_DRV_COOKIE_CORE) set.  A data request
 * (SEND, RECV_POST, DISCONNECT, FORWARD) carries the caller's cookie
 * unchanged, because its completion event (SEND_DONE, ...) reports it to
 * the host: request cookies must have bit 63 clear.  A CMD_DONE whose
 * cookie has bit 63 set is matched through the pending-table index in the
 * cookie (exact: index and sequence number); one with bit 63 clear is
 * matched against the data requests in flight by (cookie, opcode, handle),
 * the oldest first (commands complete in ring order).
 */
#define CHIMNEY_DRV_COOKIE_CORE		0x8000000000000000ull	/* bit 63 */

/* on_indicate: the host answers later with chimney_drv_ind_done(). */
#define CHIMNEY_DRV_IND_DEFER		0xffffffffu

/*
 * The host's offload block, after NDIS_MINIPORT_OFFLOAD_BLOCK_LIST.
 *
 * type			CHIMNEY_TYPE_*: the layer and, where state
 *			follows, which structures.
 * next_block		Next block of the same layer, NULL = last.
 * dependent_block_list	First block of the layer above (neighbor -> path
 *			-> TCP), NULL = none.
 * status		Out: CHIMNEY_ST_* result for this block, written for
 *			every block before the completion callback.
 *			CHIMNEY_ST_PENDING while the command is in flight.
 * miniport_offload_context
 *			The slot holding the device handle of the object:
 *			NULL		placeholder (carries only a
 *					dependent list);
 *			*slot == 0	INITIATE: a new object; on success
 *					(and only then) the core stores its
 *					handle here;
 *			*slot != 0	an offloaded object (INITIATE: a
 *					linker; other operations: the object
 *					operated on).
 *			The core never clears a slot: after a successful
 *			TERMINATE the handle in it is stale.
 * ndis_offload_handle	The host's value for the object (INITIATE of a new
 *			object): the device returns it as the cookie of
 *			every event about the object.
 * state, state_len	The state structures that follow the block, in
 *			device wire format (chimney_hw.h structures,
 *			little-endian, each with its ChimneyStateHdr length
 *			set), back to back; see "State operations" in the
 *			spec for what each operation expects.  QUERY and
 *			TERMINATE fill them: the core copies the device's
 *			output back here before completing.  TERMINATE of a
 *			TCP object with a ChimneyTcpDelegated structure:
 *			send_list_addr / send_list_cap and rcv_data_addr /
 *			rcv_data_cap are device (DMA) addresses and sizes of
 *			buffers the host allocated through the shim
 *			(dma_alloc) for the returned send list and receive
 *			data; the core passes them through untouched, and
 *			the host reads the returned data from them with
 *			dma_read.  Likewise the send list and receive data
 *			handed over at INITIATE.
 * drv_*		Private to the core while it owns the tree;
 *			zero-initialise blocks (e.g. "= { 0 }").
 *
 * The host must not modify the tree from submission until the completion
 * callback (like NDIS).
 */
struct chimney_offload_block {
	u16 type;
	u16 rsvd;
	u32 status;
	struct chimney_offload_block *next_block;
	struct chimney_offload_block *dependent_block_list;
	u64 *miniport_offload_context;
	u64 ndis_offload_handle;
	void *state;
	u32 state_len;
	u32 drv_offset;
	u64 drv_walk;
};

/*
 * Completion of a state operation: @root is the tree given to the submit
 * function, with every block's status (and handles, state) filled in.
 * @status is the command's status: CHIMNEY_ST_SUCCESS when the device
 * walked the tree (the per-block statuses carry the results); any other
 * value means the tree was not processed (for example
 * CHIMNEY_ST_OFFLOAD_DISABLED, CHIMNEY_ST_BAD_TREE,
 * CHIMNEY_ST_REQUEST_ABORTED at chimney_drv_fini()) and every block's
 * status is set to it.
 */
typedef void (*chimney_drv_tree_done_fn)(void *ctx,
					 struct chimney_offload_block *root,
					 u32 status);
/* Completion of any other command. */
typedef void (*chimney_drv_cmd_done_fn)(void *ctx, u32 status);

/*
 * One buffer of a receive indication: an IND buffer of the core (data at
 * offset 0), @len bytes of data whose first byte has TCP sequence number
 * @seq.  Read it with chimney_drv_ind_read() (or, in a port that knows
 * its buffers, through @buf->handle).  Valid only during the on_indicate
 * call: the core re-posts the buffer afterwards, unless the host took it
 * with chimney_drv_ind_swap() (then @buf is NULL).
 */
struct chimney_drv_ind_frag {
	const struct chimney_dma_buf *buf;
	u32 len;
	u32 seq;
};

/*
 * Unsolicited events (any member may be NULL: the event is dropped, but
 * see on_indicate).
 *
 * on_tcp_event		EVT_TCP_DISCONNECT, EVT_TCP_ABORT,
 *			EVT_TCP_RETRIEVE, EVT_TCP_BACKLOG, and
 *			EVT_RECV_INDICATE while the IND ring is not running
 *			(chimney_drv_ind_start()).
 *			@ndis_offload_handle is the event's cookie (the value
 *			given at INITIATE), @device_handle the connection's
 *			handle.  @info: the upload reason (CHIMNEY_UPLOAD_*)
 *			for TCP_RETRIEVE, else the event's info word (backlog
 *			bytes, indicated bytes).
 * on_indicate		EVT_RECV_INDICATE while the IND ring runs: @nfrags
 *			(>= 1) buffers of connection @device_handle
 *			(@ndis_offload_handle: its host value) holding
 *			@total bytes in order.  Returns the bytes the host
 *			consumed, a prefix: 0..@total (more is taken as
 *			@total); the core answers CMD_IND_DONE with it and
 *			re-posts the buffers.  CHIMNEY_DRV_IND_DEFER: the
 *			core re-posts the buffers but sends no IND_DONE; the
 *			host calls chimney_drv_ind_done() itself later (the
 *			connection stays busy until then).  Either way the
 *			host copies what it keeps before returning.  NULL:
 *			every indication is answered with IND_DONE 0 (the
 *			data stays in the device for RECV_POST requests).
 * on_neigh_query	EVT_NEIGH_QUERY: neighbor's host value and handle, NRD.
 * on_status		EVT_STATUS: CHIMNEY_STATUS_IND_*.
 * on_link		EVT_LINK: 1 up, 0 down.
 * on_io_done		Completions of data requests (EVT_SEND_DONE,
 *			EVT_RECV_DONE, EVT_DISC_DONE, EVT_FORWARD_DONE), e.g.
 *			SEND_DONE of a send list handed over at INITIATE:
 *			@cookie is the request's cookie
 *			(ChimneySendBuf.cookie).
 */
struct chimney_drv_event_ops {
	void (*on_tcp_event)(void *ctx, u64 ndis_offload_handle,
			     u64 device_handle, u16 event_type, u32 info);
	void (*on_neigh_query)(void *ctx, u64 ndis_offload_handle,
			       u64 device_handle, u32 nrd);
	void (*on_status)(void *ctx, u16 code);
	void (*on_link)(void *ctx, int up);
	void (*on_io_done)(void *ctx, u64 cookie, u64 device_handle,
			   u16 event_type, u32 status, u32 info);
	u32 (*on_indicate)(void *ctx, u64 ndis_offload_handle,
			   u64 device_handle,
			   const struct chimney_drv_ind_frag *frags,
			   u32 nfrags, u32 total);
};

/* One command in flight (private). */
struct chimney_drv_pending {
	u64 cookie;
	u64 handle;			/* descriptor handle */
	u64 order;			/* submission sequence number */
	u8 state;			/* free / reserved / submitted */
	u8 caller_cookie;		/* data request: @cookie is the caller's */
	u16 opcode;
	u32 nblocks;			/* tree commands */
	struct chimney_dma_buf buf;	/* len 0: none */
	struct chimney_offload_block *root;
	void *out;			/* copy of buf on success (QUERY_STATS) */
	u32 out_len;
	chimney_drv_tree_done_fn tree_cb;
	chimney_drv_cmd_done_fn cmd_cb;
	void *cb_ctx;
};

/* One IND ring slot and its buffer (private). */
struct chimney_drv_ind_slot {
	struct chimney_dma_buf buf;
	u64 owed_handle;		/* IND_DONE not submitted yet ... */
	u32 owed_len;			/* ... for these bytes */
	u8 owed;
};

/*
 * The core's device state.  Allocated by the OS (any memory); fields are
 * private.  The counters may be read for diagnostics.
 */
struct chimney_drv {
	struct chimney_os os;
	int ready;
	u32 version;			/* REG_VERSION */
	u32 cap_tree_blocks;		/* REG_CAP_TREE_BLOCKS */

	struct chimney_dma_buf cmd_ring;
	struct chimney_dma_buf evt_ring;
	u32 cmd_size;
	u32 evt_size;
	u32 cmd_tail;			/* next CMD entry the core fills */
	u32 cmd_head;			/* device's CMD HEAD, last read */
	u32 evt_next;			/* next EVT entry the core reads */

	u32 max_pending;
	u32 npending;
	u64 seq;
	u64 walk_gen;
	struct chimney_drv_pending pending[CHIMNEY_DRV_MAX_PENDING];

	const struct chimney_drv_event_ops *evt_ops;
	void *evt_ctx;

	/*
	 * IND ring (chimney_drv_ind_start()): every slot has its buffer.
	 * Slots [ind_clean, ind_next) were consumed and wait to be re-posted
	 * (re-posting stops at a slot whose IND_DONE is owed); the device
	 * owns all slots but the one before ind_clean (TAIL = ind_clean - 1).
	 * Touched only by chimney_drv_process_events() and start/stop.
	 */
	u32 ring_max;			/* REG_CAP_RING_MAX */
	int ind_running;
	struct chimney_dma_buf ind_ring;
	u32 ind_size;
	u32 ind_buf_size;
	u32 ind_next;			/* next descriptor the core examines */
	u32 ind_clean;			/* next descriptor to re-post */
	u32 ind_owed;			/* IND_DONEs not submitted yet */
	u32 ind_shown;			/* ind_frags[] of the on_indicate call */
	struct chimney_drv_ind_slot ind_slot[CHIMNEY_DRV_IND_RING_MAX];
	struct chimney_drv_ind_frag ind_frags[CHIMNEY_DRV_IND_RING_MAX];

	/* diagnostics */
	u32 n_commands;			/* commands submitted */
	u32 n_events;			/* event entries consumed */
	u32 n_unknown_cookie;		/* CMD_DONE matching no command */
	u32 n_unknown_event;		/* event types not known */
	u32 n_indications;		/* indications handed to the host */
	u32 n_ind_err_desc;		/* IND descriptors completed in error */
	u32 n_ind_bad;			/* indications not matching the ring */
	u32 n_ind_done_failed;		/* IND_DONE not accepted by the device */
	u32 n_ind_swapped;		/* IND buffers the host took */
};

/*
 * Bring up the command path: check REG_ID and the ABI major version
 * (CHIMNEY_DRV_ENODEV), allocate and enable the CMD and EVT rings
 * (@cmd_ring_size, @evt_ring_size entries: powers of two between
 * CHIMNEY_RING_MIN and CAP_RING_MAX, else CHIMNEY_DRV_EINVAL), give the
 * EVT ring its SIZE - 1 slots, set CTRL.OFFLOAD_EN.  The rings (CMD, EVT
 * and IND, the core's) are disabled first, so the call may follow an
 * earlier fini or a reset.  The IND ring stays off until
 * chimney_drv_ind_start().
 * The OS enables the interrupts it wants (INT_EVT at least) itself.
 * Offload is usable once chimney_drv_set_params() has succeeded.
 * @ops and @os form the port (struct chimney_os).
 */
int chimney_drv_init(struct chimney_drv *drv, const struct chimney_os_ops *ops,
		     void *os, u32 cmd_ring_size, u32 evt_ring_size);

/*
 * Tear down: clear CTRL.OFFLOAD_EN, disable the CMD and EVT rings (and the
 * IND ring, see chimney_drv_ind_stop()), free them.  Commands still in flight are completed with
 * CHIMNEY_ST_REQUEST_ABORTED (their trees' blocks get that status).  The
 * device may already have acted on them; the OS should reset the device
 * if objects may still be offloaded.  Not concurrently with
 * chimney_drv_process_events().
 */
void chimney_drv_fini(struct chimney_drv *drv);

/*
 * Callbacks for unsolicited events (ops may be NULL: events dropped).  Set
 * after chimney_drv_init() (which clears them), before the OS starts
 * calling chimney_drv_process_events().
 */
void chimney_drv_set_event_ops(struct chimney_drv *drv,
			       const struct chimney_drv_event_ops *ops,
			       void *ctx);

/*
 * The five state operations (CMD_INITIATE ... CMD_INVALIDATE).  The tree
 * is checked and serialised depth-first into one DMA buffer, then the
 * command is queued; 0 means @done will be called exactly once, from
 * chimney_drv_process_events() (or chimney_drv_fini()), possibly before
 * the submit function returns if another CPU processes events.
 * Block roles follow from miniport_offload_context (see above):
 * INITIATE: NULL -> PLACEHOLDER, *slot == 0 -> NEW, else LINKER;
 * others:   NULL -> PLACEHOLDER, else REF (handle = *slot).
 * Errors, returned before anything is queued (only the blocks' drv_*
 * fields may have changed):
 *   CHIMNEY_DRV_EINVAL   NULL root/callback, state_len without state or
 *                        over CHIMNEY_DRV_MAX_STATE, more than three
 *                        levels of dependents;
 *   CHIMNEY_DRV_ELOOP    a block reached twice (cycle, or a block in two
 *                        lists);
 *   CHIMNEY_DRV_E2BIG    more blocks than the device's CAP_TREE_BLOCKS;
 *   CHIMNEY_DRV_EBUSY    CMD ring or pending table full: retry after
 *                        completions;
 *   CHIMNEY_DRV_ENOMEM, CHIMNEY_DRV_ESHUTDOWN.
 */
int chimney_drv_initiate_offload(struct chimney_drv *drv,
				 struct chimney_offload_block *root,
				 chimney_drv_tree_done_fn done, void *ctx);
int chimney_drv_terminate_offload(struct chimney_drv *drv,
				  struct chimney_offload_block *root,
				  chimney_drv_tree_done_fn done, void *ctx);
int chimney_drv_update_offload(struct chimney_drv *drv,
			       struct chimney_offload_block *root,
			       chimney_drv_tree_done_fn done, void *ctx);
int chimney_drv_query_offload(struct chimney_drv *drv,
			      struct chimney_offload_block *root,
			      chimney_drv_tree_done_fn done, void *ctx);
int chimney_drv_invalidate_offload(struct chimney_drv *drv,
				   struct chimney_offload_block *root,
				   chimney_drv_tree_done_fn done, void *ctx);

/* The role (CHIMNEY_ROLE_*) a block gets in a tree of @opcode. */
u16 chimney_drv_block_role(const struct chimney_offload_block *blk,
			   u16 opcode);

/*
 * Configuration commands; @done may be NULL.  Same return codes.
 * set_params: @params in wire format (little-endian); the core sets its
 *   header.  Offload (INITIATE) needs one successful SET_PARAMS.
 * set_vlans: @count (<= CHIMNEY_MAX_IFACE_VLANS) interface VLAN ids in
 *   CPU order; count 0 clears the table.
 * nop: completes with CHIMNEY_ST_SUCCESS (the L2 driver's self-check of
 *   the command/event path).
 * neigh_reply: answer an EVT_NEIGH_QUERY for neighbor @handle with the
 *   host's HostReachabilityDelta @hrd (ticks).
 */
int chimney_drv_set_params(struct chimney_drv *drv,
			   const ChimneyOffloadParams *params,
			   chimney_drv_cmd_done_fn done, void *ctx);
int chimney_drv_set_vlans(struct chimney_drv *drv, const u16 *vlan_ids,
			  u32 count, chimney_drv_cmd_done_fn done, void *ctx);
int chimney_drv_nop(struct chimney_drv *drv, chimney_drv_cmd_done_fn done,
		    void *ctx);
int chimney_drv_neigh_reply(struct chimney_drv *drv, u64 handle, u32 hrd,
			    chimney_drv_cmd_done_fn done, void *ctx);

/*
 * A command exactly as given (test and diagnostic use: malformed trees,
 * foreign buffers, unknown opcodes).  @addr / @len is a buffer the caller
 * owns and keeps until the completion; the core only fills the descriptor
 * and the cookie, which it returns in *@cookie (may be NULL) so the
 * caller can match the CMD_DONE event.  Same return codes and completion
 * rules as the other commands.
 */
int chimney_drv_raw_cmd(struct chimney_drv *drv, u16 opcode, u16 flags,
			u64 addr, u32 len, u64 handle,
			chimney_drv_cmd_done_fn done, void *ctx, u64 *cookie);

/*
 * Data requests (spec "Data I/O") on the offloaded TCP connection
 * @handle.  @addr / @len is a buffer the caller owns (a device address,
 * e.g. from the shim's dma_alloc or the port's DMA mapping); the core does
 * not copy it and the device reads or writes it until the request's
 * completion.  @cookie is the caller's identifier of the request, with bit
 * 63 clear (CHIMNEY_DRV_COOKIE_CORE; else CHIMNEY_DRV_EINVAL); it goes
 * into the descriptor unchanged.
 *
 * @done (may be NULL) is called once, on the command's CMD_DONE, with the
 * acceptance status: CHIMNEY_ST_SUCCESS means the request was queued and
 * exactly one later event_ops.on_io_done() (EVT_SEND_DONE, _RECV_DONE,
 * _DISC_DONE, _FORWARD_DONE) with @cookie and @handle reports its result;
 * any other status is the final result (nothing follows).  At
 * chimney_drv_fini(), requests whose CMD_DONE has not come get
 * CHIMNEY_ST_REQUEST_ABORTED; accepted requests are the device's until it
 * is reset (the core does not track them).
 *
 * Refused with CHIMNEY_DRV_EINVAL before anything is queued, as the device
 * would refuse them: send: @len 0 or flags other than CHIMNEY_SENDF_PUSH;
 * recv_post: flags other than CHIMNEY_RECVF_NO_PUSH, CHIMNEY_RECVF_SGL and
 * CHIMNEY_RECVF_HOLD (@len 0 without CHIMNEY_RECVF_SGL is a zero-length
 * request; with it,
 * @addr is the device address of a ChimneyRecvSge list, in wire format,
 * of @len entries, 1..CHIMNEY_RECV_SGL_MAX, which the caller keeps
 * unchanged until the RECV_DONE; the core checks the count only, the
 * device the entries); disconnect: @flags not exactly one of
 * CHIMNEY_DISC_GRACEFUL / CHIMNEY_DISC_ABORTIVE (@addr / @len: final data
 * of a graceful close, may be empty; ignored by the device for an abortive
 * one); forward: @len < 20 (one TCP segment, header first).  Other return
 * codes as for the other commands.
 */
int chimney_drv_send(struct chimney_drv *drv, u64 handle, u64 addr, u32 len,
		     u16 flags, u64 cookie, chimney_drv_cmd_done_fn done,
		     void *ctx);
int chimney_drv_recv_post(struct chimney_drv *drv, u64 handle, u64 addr,
			  u32 len, u16 flags, u64 cookie,
			  chimney_drv_cmd_done_fn done, void *ctx);
int chimney_drv_disconnect(struct chimney_drv *drv, u64 handle, u64 addr,
			   u32 len, u16 flags, u64 cookie,
			   chimney_drv_cmd_done_fn done, void *ctx);
int chimney_drv_forward(struct chimney_drv *drv, u64 handle, u64 addr,
			u32 len, u64 cookie, chimney_drv_cmd_done_fn done,
			void *ctx);

/*
 * CMD_IND_DONE for connection @handle: the host consumed the first @len
 * bytes of its outstanding indication.  The core sends it itself for
 * every indication unless on_indicate returned CHIMNEY_DRV_IND_DEFER.
 * @done (may be NULL) gets the CMD_DONE status (CHIMNEY_ST_INVALID_STATE:
 * no indication outstanding; CHIMNEY_ST_INVALID_PARAMETER: @len over the
 * indicated bytes).  Core cookie; same return codes as nop.
 */
int chimney_drv_ind_done(struct chimney_drv *drv, u64 handle, u32 len,
			 chimney_drv_cmd_done_fn done, void *ctx);

/*
 * CMD_RECV_FLUSH for connection @handle (spec RECV_FLUSH; devices with
 * CHIMNEY_CAP_RECV_SGL): every RECV_POST of the connection still posted
 * completes at once, in order, with the bytes placed so far (its
 * EVT_RECV_DONE goes to on_io_done as usual, after this command's
 * CMD_DONE).  @done (may be NULL) gets the CMD_DONE status
 * (CHIMNEY_ST_BAD_HANDLE: no such connection).  Core cookie; same return
 * codes as nop.
 */
int chimney_drv_recv_flush(struct chimney_drv *drv, u64 handle,
			   chimney_drv_cmd_done_fn done, void *ctx);

/*
 * CMD_QUERY_STATS: the device writes its ChimneyOffloadStats (216 bytes)
 * into a DMA buffer of the core; on CHIMNEY_ST_SUCCESS the core copies it
 * to *@out, in wire format (little-endian, as the device wrote it,
 * header included), before calling @done.  On any other status *@out is
 * not written.  *@out must stay valid until @done (may be NULL) runs.
 * CMD_CLEAR_STATS: @flags selects the counter sets to zero
 * (CHIMNEY_STATS_TCP4 | _TCP6 | _IP4 | _IP6; other bits:
 * CHIMNEY_DRV_EINVAL).  Both work while offload is disabled.
 */
int chimney_drv_query_stats(struct chimney_drv *drv, ChimneyOffloadStats *out,
			    chimney_drv_cmd_done_fn done, void *ctx);
int chimney_drv_clear_stats(struct chimney_drv *drv, u16 flags,
			    chimney_drv_cmd_done_fn done, void *ctx);

/*
 * The IND ring (optional; spec "Receive indications").  Start: allocate
 * a ring of @ring_size descriptors (a power of two in [CHIMNEY_RING_MIN,
 * min(CAP_RING_MAX, CHIMNEY_DRV_IND_RING_MAX)]) and one DMA buffer of
 * @buf_size bytes (1..CHIMNEY_DRV_IND_BUF_MAX; the shim's rxbuf_alloc
 * when it has one, else dma_alloc) per slot, program and
 * enable the ring, post @ring_size - 1 buffers.  CHIMNEY_DRV_EINVAL for
 * bad sizes, CHIMNEY_DRV_EBUSY when already running, CHIMNEY_DRV_EIO when
 * the device refuses the ring, CHIMNEY_DRV_ENOMEM, CHIMNEY_DRV_ESHUTDOWN
 * before init; on failure nothing stays allocated or enabled.
 *
 * Then EVT_RECV_INDICATE goes to on_indicate: the core takes the
 * descriptors from its consumer index up to and including the one with
 * DESC_EOP (at most the ring size), reclaiming those completed with an
 * error code (no data; they are also reclaimed on their own at every
 * chimney_drv_process_events()).  If the buffers do not match the event
 * (no EOP, a descriptor not done, another connection's handle, lengths
 * not adding up to the event's info) the indication is logged, counted
 * (n_ind_bad), not shown to the host, and answered with IND_DONE 0: the
 * data stays in the device and reaches the host through RECV_POST.  An
 * IND_DONE that cannot be queued (CMD ring or pending table full) is
 * retried at the next completions; until then that indication's buffers
 * (and the ones after it) are not re-posted.  The CMD_DONE of the core's
 * IND_DONE is checked and a failure counted (n_ind_done_failed).
 *
 * Stop (also done by chimney_drv_fini()): disable the ring, free it and
 * its buffers.  IND_DONEs still owed are dropped: their connections stay
 * busy until TERMINATE returns the data.  Start and stop must not run
 * concurrently with chimney_drv_process_events() (like init and fini).
 */
int chimney_drv_ind_start(struct chimney_drv *drv, u32 ring_size,
			  u32 buf_size);
void chimney_drv_ind_stop(struct chimney_drv *drv);

/*
 * Copy @len bytes at @off of an indication buffer (during on_indicate)
 * to @dst; returns the bytes copied (0 when @off / @len are outside the
 * fragment's data).
 */
u32 chimney_drv_ind_read(struct chimney_drv *drv,
			 const struct chimney_drv_ind_frag *frag, u32 off,
			 void *dst, u32 len);

/*
 * During on_indicate: take the buffer of @frag (one of the fragments
 * passed to that call) out of the ring instead of copying its data.
 * The host owns the memory from now on (*@taken: the buffer as it was
 * in the slot, data at offset 0; spec "Receive indications": filled
 * IND buffers belong to the driver once completed) and frees it itself;
 * @fresh, a buffer of the kind the ring uses (the port's rxbuf_alloc,
 * else dma_alloc) of at least the ring's buffer size, takes its place in
 * the slot and is posted when the core re-posts the slot.  @frag->buf
 * becomes NULL (chimney_drv_ind_read() returns 0 for it).  0, or
 * CHIMNEY_DRV_EINVAL (not a fragment of the indication being shown,
 * taken already, @fresh too small or not 64-byte aligned): nothing
 * changed.  The IND_DONE is the host's business as before: taking
 * buffers does not consume their data.
 */
int chimney_drv_ind_swap(struct chimney_drv *drv,
			 const struct chimney_drv_ind_frag *frag,
			 const struct chimney_dma_buf *fresh,
			 struct chimney_dma_buf *taken);

/*
 * Consume the valid EVT entries in order: clear each entry's VALID, hand
 * the slots back through EVT TAIL, complete commands (CMD_DONE, matched by
 * cookie; an unknown cookie is logged and ignored) and call the event
 * callbacks, without the shim lock held.  Processes at most the EVT ring
 * size entries; returns the number processed (the OS polls again when it
 * equals the ring size), 0 when not initialised.  Calls must not overlap
 * (one interrupt/poll context), nor be made from a callback.
 */
u32 chimney_drv_process_events(struct chimney_drv *drv);

/*
 * Whether the next EVT entry is valid, i.e. chimney_drv_process_events()
 * has work (for an interrupt handler's or NAPI poll's final re-check).
 * 0 when not initialised.  Same context rules as process_events.
 */
int chimney_drv_event_pending(struct chimney_drv *drv);

/* Commands submitted and not yet completed. */
u32 chimney_drv_pending(struct chimney_drv *drv);

#endif /* CHIMNEY_DRV_H */

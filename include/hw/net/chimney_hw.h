/*
 * chimney-nic hardware interface (ABI)
 *
 * The one definition of the programming interface of the chimney-nic PCI
 * device, shared by the device model (hw/net/chimney/), the guest driver
 * core (guest-driver/) and the tests.  docs/specs/chimney-nic.rst is the
 * prose version of this file; the two must never disagree.
 *
 * Rules for this header: fixed-width types only, every multi-byte field is
 * little-endian in guest memory and in registers, no QEMU or kernel
 * includes, every structure size is checked by a static assertion below.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_HW_H
#define CHIMNEY_HW_H

#include <stdint.h>

/*
 * PCI identity
 */
#define CHIMNEY_PCI_VENDOR_ID           0x1b36  /* Red Hat / QEMU */
#define CHIMNEY_PCI_DEVICE_ID           0x00c1  /* experimental, see spec */
#define CHIMNEY_PCI_REVISION            0x01
#define CHIMNEY_PCI_CLASS               0x0200  /* network / Ethernet */
#define CHIMNEY_PCI_SUBSYS_VENDOR_ID    0x1af4
#define CHIMNEY_PCI_SUBSYS_ID           0x1100

#define CHIMNEY_BAR_REGS                0       /* 64-bit memory BAR */
#define CHIMNEY_BAR_REGS_SIZE           0x1000
#define CHIMNEY_BAR_MSIX                2       /* 32-bit memory BAR, 4 KiB:
                                                 * MSI-X table at 0, PBA
                                                 * at 0x800 */

/*
 * Registers (BAR0).  All registers are 32 bits wide and must be accessed
 * with aligned 32-bit loads and stores; other accesses are ignored (reads
 * return 0) and logged as guest errors.
 */
#define CHIMNEY_REG_ID                  0x0000  /* RO  magic */
#define CHIMNEY_REG_VERSION             0x0004  /* RO  ABI major<<16|minor */
#define CHIMNEY_REG_CTRL                0x0008  /* RW  device control */
#define CHIMNEY_REG_STATUS              0x000c  /* RO  device status */
#define CHIMNEY_REG_MAC_LO              0x0010  /* RW  MAC bytes 0..3 */
#define CHIMNEY_REG_MAC_HI              0x0014  /* RW  MAC bytes 4..5 */
#define CHIMNEY_REG_RX_FILTER           0x0018  /* RW  L2 receive filter */
#define CHIMNEY_REG_ERR_COUNT           0x001c  /* RO  guest errors seen */
#define CHIMNEY_REG_INT_CAUSE           0x0020  /* RW1C interrupt causes */
#define CHIMNEY_REG_INT_MASK            0x0024  /* RW  1 = cause enabled */
#define CHIMNEY_REG_INT_THROTTLE        0x0028  /* RW  min gap per vector, us */
#define CHIMNEY_REG_LAST_ERR            0x002c  /* RO  last guest error code */
#define CHIMNEY_REG_CAP_FLAGS           0x0030  /* RO  capability flags */
#define CHIMNEY_REG_CAP_MAX_CONN        0x0034  /* RO  max offloaded TCP */
#define CHIMNEY_REG_CAP_MAX_PATH        0x0038  /* RO  max path objects */
#define CHIMNEY_REG_CAP_MAX_NEIGH       0x003c  /* RO  max neighbor objects */
#define CHIMNEY_REG_CAP_TREE_BLOCKS     0x0040  /* RO  max blocks per tree */
#define CHIMNEY_REG_CAP_MAX_FRAME       0x0044  /* RO  max L2 frame bytes */
#define CHIMNEY_REG_CAP_RING_MAX        0x0048  /* RO  max ring entries */
#define CHIMNEY_REG_CAP_MSIX_VECTORS    0x004c  /* RO  MSI-X vector count */
#define CHIMNEY_REG_CAP_RCV_BUF         0x0050  /* RO  per-conn rx buffer */
#define CHIMNEY_REG_CAP_MAX_RCV_WND     0x0054  /* RO  max InitialRcvWnd */
#define CHIMNEY_REG_CAP_MAX_PATH_MTU    0x0058  /* RO  max PathMtu */
#define CHIMNEY_REG_CAP_MEM_BUDGET_KB   0x005c  /* RO  data-buffer budget, KiB */

/* Rings: five 32-byte register blocks starting at CHIMNEY_REG_RING_BASE. */
#define CHIMNEY_REG_RING_BASE           0x0100
#define CHIMNEY_REG_RING_STRIDE         0x0020
#define CHIMNEY_RING_REG(ring, off) \
    (CHIMNEY_REG_RING_BASE + (ring) * CHIMNEY_REG_RING_STRIDE + (off))
#define CHIMNEY_RING_ADDR_LO            0x00    /* RW  base bits 0..31 */
#define CHIMNEY_RING_ADDR_HI            0x04    /* RW  base bits 32..63 */
#define CHIMNEY_RING_SIZE               0x08    /* RW  entries, power of 2 */
#define CHIMNEY_RING_HEAD               0x0c    /* RO  device index */
#define CHIMNEY_RING_TAIL               0x10    /* RW  driver index */
#define CHIMNEY_RING_CTRL               0x14    /* RW  bit 0 enable */
#define CHIMNEY_RING_STATUS             0x18    /* RO  state and error */
#define CHIMNEY_RING_COUNT_REG          0x1c    /* RO  entries processed */

enum ChimneyRingId {
    CHIMNEY_RING_TX  = 0,   /* L2 transmit, driver produces */
    CHIMNEY_RING_RX  = 1,   /* L2 receive buffers, driver produces */
    CHIMNEY_RING_CMD = 2,   /* command submission, driver produces */
    CHIMNEY_RING_EVT = 3,   /* completions and events, device produces */
    CHIMNEY_RING_IND = 4,   /* offload receive-indication buffers */
    CHIMNEY_RING_COUNT = 5,
};

/* Statistics registers: 32-bit wrapping counters, cleared by STATS_CLEAR. */
#define CHIMNEY_REG_STATS_BASE          0x0200
#define CHIMNEY_REG_STATS_CLEAR         0x02fc  /* WO  write 1: zero all */
enum ChimneyStat {
    CHIMNEY_STAT_TX_FRAMES = 0,
    CHIMNEY_STAT_TX_BYTES,
    CHIMNEY_STAT_TX_ERRORS,       /* descriptors completed with an error */
    CHIMNEY_STAT_RX_FRAMES,
    CHIMNEY_STAT_RX_BYTES,
    CHIMNEY_STAT_RX_ERRORS,       /* descriptors completed with an error */
    CHIMNEY_STAT_RX_FILTERED,     /* dropped by RX_FILTER or < 14 bytes */
    CHIMNEY_STAT_RX_OVERSIZE,     /* frames longer than CAP_MAX_FRAME */
    CHIMNEY_STAT_RX_NOBUF,        /* times RX stalled for lack of buffers */
    CHIMNEY_STAT_CMDS,            /* commands consumed */
    CHIMNEY_STAT_EVENTS,          /* event entries written */
    CHIMNEY_STAT_EVT_OVERFLOW,    /* events lost: internal queue full */
    CHIMNEY_STAT_COUNT,
};
#define CHIMNEY_REG_STAT(i)             (CHIMNEY_REG_STATS_BASE + 4 * (i))

#define CHIMNEY_ID_MAGIC                0x4d494843u  /* "CHIM" in LE bytes */
#define CHIMNEY_ABI_MAJOR               1
#define CHIMNEY_ABI_MINOR               3
#define CHIMNEY_ABI_VERSION  ((CHIMNEY_ABI_MAJOR << 16) | CHIMNEY_ABI_MINOR)

/* CTRL */
#define CHIMNEY_CTRL_RESET              (1u << 0)  /* self-clearing */
#define CHIMNEY_CTRL_OFFLOAD_EN         (1u << 1)  /* offload engine on */

/* STATUS */
#define CHIMNEY_STATUS_LINK_UP          (1u << 0)
#define CHIMNEY_STATUS_BUS_MASTER       (1u << 1)  /* PCI bus mastering on */
#define CHIMNEY_STATUS_MSIX             (1u << 2)  /* MSI-X enabled */

/* RX_FILTER */
#define CHIMNEY_RXF_UNICAST             (1u << 0)  /* frames to MAC */
#define CHIMNEY_RXF_BROADCAST           (1u << 1)
#define CHIMNEY_RXF_ALLMULTI            (1u << 2)
#define CHIMNEY_RXF_PROMISC             (1u << 3)
#define CHIMNEY_RXF_RESET_VALUE \
    (CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST)

/* INT_CAUSE / INT_MASK bits and their MSI-X vectors */
#define CHIMNEY_INT_LINK                (1u << 0)  /* link changed */
#define CHIMNEY_INT_TX                  (1u << 1)  /* TX descriptors done */
#define CHIMNEY_INT_RX                  (1u << 2)  /* RX descriptors done */
#define CHIMNEY_INT_CMD                 (1u << 3)  /* commands consumed */
#define CHIMNEY_INT_EVT                 (1u << 4)  /* event entries written */
#define CHIMNEY_INT_ERR                 (1u << 5)  /* ring error */
#define CHIMNEY_INT_RX_NOBUF            (1u << 6)  /* RX stalled, no buffer */
#define CHIMNEY_INT_IND                 (1u << 7)  /* IND buffers done */
#define CHIMNEY_INT_ALL                 0xffu

#define CHIMNEY_VEC_MISC                0  /* LINK, ERR, RX_NOBUF */
#define CHIMNEY_VEC_TX                  1
#define CHIMNEY_VEC_RX                  2  /* RX and IND */
#define CHIMNEY_VEC_CMD                 3
#define CHIMNEY_VEC_EVT                 4
#define CHIMNEY_MSIX_VECTORS            5

/* CAP_FLAGS */
#define CHIMNEY_CAP_L2                  (1u << 0)
#define CHIMNEY_CAP_OFFLOAD_IPV4        (1u << 1)
#define CHIMNEY_CAP_OFFLOAD_IPV6        (1u << 2)
#define CHIMNEY_CAP_VLAN                (1u << 3)  /* 802.1Q */
#define CHIMNEY_CAP_8021P               (1u << 4)
#define CHIMNEY_CAP_SACK                (1u << 5)
#define CHIMNEY_CAP_SRC_MAC             (1u << 6)  /* settable source MAC */
#define CHIMNEY_CAP_TIMESTAMPS          (1u << 7)
#define CHIMNEY_CAP_WSCALE              (1u << 8)
#define CHIMNEY_CAP_RECV_SGL            (1u << 9)  /* RECVF_SGL, RECV_FLUSH */
#define CHIMNEY_CAP_RECV_HOLD           (1u << 10) /* RECVF_HOLD */
#define CHIMNEY_CAP_DISC_RCV_CLOSED     (1u << 11) /* DISC_RCV_CLOSED */

/* Limits (also readable through the CAP_* registers) */
#define CHIMNEY_MAX_CONN                65536u
#define CHIMNEY_MAX_CONN_LIMIT          (1u << 20)  /* max-conn property */
#define CHIMNEY_MAX_PATH                65536u
#define CHIMNEY_MAX_NEIGH               4096u
#define CHIMNEY_TREE_MAX_BLOCKS         (CHIMNEY_MAX_CONN + 8192u)
#define CHIMNEY_MAX_FRAME               9018u   /* 9000 MTU + 14 + 4 VLAN */
#define CHIMNEY_MIN_FRAME               14u     /* an Ethernet header */
#define CHIMNEY_RING_MIN                8u
#define CHIMNEY_RING_MAX                32768u
#define CHIMNEY_TX_MAX_FRAGS            16u     /* descriptors per frame */
#define CHIMNEY_RCV_BUF                 (256u * 1024u)
#define CHIMNEY_RCV_BUF_INITIAL         (64u * 1024u)  /* grows by use */
#define CHIMNEY_MAX_RCV_WND             (1u << 30)
#define CHIMNEY_MAX_PATH_MTU            9000u
#define CHIMNEY_MAX_IFACE_VLANS         16u
#define CHIMNEY_EVT_QUEUE_MAX           1024u   /* internal pending events */
#define CHIMNEY_BLOCK_MAX_STATE         4096u   /* state bytes after a block */
#define CHIMNEY_TREE_MAX_STATE_BYTES    (64u << 20) /* state bytes per tree */

/* RING_CTRL / RING_STATUS */
#define CHIMNEY_RING_CTRL_ENABLE        (1u << 0)
#define CHIMNEY_RING_ST_ENABLED         (1u << 0)
#define CHIMNEY_RING_ST_ERROR           (1u << 1)  /* stopped by an error */
#define CHIMNEY_RING_ST_ERR_SHIFT       8          /* bits 8..15: error */
#define CHIMNEY_RING_ST_ERR_MASK        0xff00u

/* Base addresses must be aligned to this (every entry is 16 or 32 bytes). */
#define CHIMNEY_RING_ALIGN              64u

/*
 * Guest error codes: RING_STATUS bits 8..15, LAST_ERR, descriptor status
 * bits 8..15.
 */
enum ChimneyErr {
    CHIMNEY_ERR_NONE          = 0x00,
    CHIMNEY_ERR_BAD_SIZE      = 0x01, /* ring SIZE not a power of 2 in range */
    CHIMNEY_ERR_BAD_ALIGN     = 0x02, /* ring base not 64-byte aligned */
    CHIMNEY_ERR_BAD_TAIL      = 0x03, /* TAIL >= SIZE, or ring disabled */
    CHIMNEY_ERR_DMA           = 0x04, /* DMA to/from guest memory failed */
    CHIMNEY_ERR_BUSY          = 0x05, /* ring reconfigured while enabled */
    CHIMNEY_ERR_ZERO_LEN      = 0x06, /* descriptor with length 0 */
    CHIMNEY_ERR_OVERSIZE      = 0x07, /* frame longer than CAP_MAX_FRAME */
    CHIMNEY_ERR_RUNT          = 0x08, /* frame shorter than 14 bytes */
    CHIMNEY_ERR_TOO_MANY_FRAGS = 0x09, /* > CHIMNEY_TX_MAX_FRAGS per frame */
    CHIMNEY_ERR_BAD_REG       = 0x0a, /* unaligned/odd-size access, RO
                                       * write, unassigned offset */
    CHIMNEY_ERR_NO_MASTER     = 0x0b, /* defined, never reported by ABI
                                       * 1.0: with bus mastering off the
                                       * device waits, no error */
    CHIMNEY_ERR_BAD_OPCODE    = 0x0c, /* unknown command opcode */
};

/*
 * Ring entries
 */

/* Descriptor status word (TX, RX, IND): written by the device, last. */
#define CHIMNEY_DESC_DONE               (1u << 0)
#define CHIMNEY_DESC_EOP                (1u << 1)  /* RX/IND: last of frame */
#define CHIMNEY_DESC_ERR_SHIFT          8
#define CHIMNEY_DESC_ERR_MASK           0xff00u

/* TX descriptor flags (driver) */
#define CHIMNEY_TXF_EOP                 (1u << 0)  /* last buffer of frame */

typedef struct ChimneyTxDesc {
    uint64_t addr;      /* guest-physical buffer address */
    uint16_t len;       /* bytes in this buffer */
    uint16_t flags;     /* CHIMNEY_TXF_* */
    uint16_t status;    /* device: DONE | error << 8 */
    uint16_t rsvd;
} ChimneyTxDesc;

/* RX descriptor flags (device) */
#define CHIMNEY_RXF_VLAN                (1u << 0)  /* frame has a 802.1Q tag
                                                    * (not an RX_FILTER bit) */

typedef struct ChimneyRxDesc {
    uint64_t addr;      /* guest-physical buffer address */
    uint16_t buf_len;   /* driver: buffer size, >= 1 */
    uint16_t len;       /* device: bytes written to this buffer */
    uint16_t status;    /* device: DONE | EOP | error << 8, written last */
    uint16_t flags;     /* device: CHIMNEY_RXF_VLAN */
} ChimneyRxDesc;

/*
 * Command descriptor.  The device consumes commands in ring order; the
 * result of every command arrives later as a CHIMNEY_EVT_CMD_DONE entry in
 * the event ring carrying the same cookie.  A command is consumed only when
 * the event ring can take its completion (see the spec, "Flow control").
 */
typedef struct ChimneyCmdDesc {
    uint16_t opcode;    /* CHIMNEY_CMD_* */
    uint16_t flags;     /* opcode-specific */
    uint32_t len;       /* bytes at addr */
    uint64_t addr;      /* guest address of the command's buffer */
    uint64_t handle;    /* object handle, for per-connection commands */
    uint64_t cookie;    /* driver value echoed in the completion */
} ChimneyCmdDesc;

enum ChimneyCmdOpcode {
    CHIMNEY_CMD_NOP             = 0x00, /* completes with SUCCESS */
    CHIMNEY_CMD_SET_PARAMS      = 0x01, /* addr: ChimneyOffloadParams */
    CHIMNEY_CMD_SET_VLANS       = 0x02, /* addr: le16[len/2] VLAN ids */
    CHIMNEY_CMD_INITIATE        = 0x10, /* addr: root block of a tree */
    CHIMNEY_CMD_TERMINATE       = 0x11,
    CHIMNEY_CMD_UPDATE          = 0x12,
    CHIMNEY_CMD_QUERY           = 0x13,
    CHIMNEY_CMD_INVALIDATE      = 0x14,
    CHIMNEY_CMD_NEIGH_REPLY     = 0x15, /* handle: neighbor, addr: cached */
    CHIMNEY_CMD_SEND            = 0x20, /* handle: TCP, addr/len: data */
    CHIMNEY_CMD_RECV_POST       = 0x21, /* handle: TCP, addr/len: buffer */
    CHIMNEY_CMD_DISCONNECT      = 0x22, /* flags: CHIMNEY_DISC_* */
    CHIMNEY_CMD_FORWARD         = 0x23, /* addr/len: one TCP segment */
    CHIMNEY_CMD_IND_DONE        = 0x24, /* handle: TCP, len: consumed */
    CHIMNEY_CMD_RECV_FLUSH      = 0x25, /* handle: TCP; posted RECV_POSTs */
    CHIMNEY_CMD_QUERY_STATS     = 0x30, /* addr: ChimneyOffloadStats */
    CHIMNEY_CMD_CLEAR_STATS     = 0x31, /* flags: CHIMNEY_STATS_* set */
};

/* SEND / RECV_POST flags */
#define CHIMNEY_SENDF_PUSH              (1u << 0)
#define CHIMNEY_RECVF_NO_PUSH           (1u << 0)  /* non-push mode */
#define CHIMNEY_RECVF_SGL               (1u << 1)  /* addr: a ChimneyRecvSge list */
#define CHIMNEY_RECVF_HOLD              (1u << 2)  /* no indication after it */
/* RECV_POST with CHIMNEY_RECVF_SGL: list entries per request, 1..this */
#define CHIMNEY_RECV_SGL_MAX            64u
/* DISCONNECT flags */
#define CHIMNEY_DISC_GRACEFUL           (1u << 0)
#define CHIMNEY_DISC_ABORTIVE           (1u << 1)
#define CHIMNEY_DISC_RCV_CLOSED         (1u << 2)  /* new data: RST */
/* CLEAR_STATS flags */
#define CHIMNEY_STATS_TCP4              (1u << 0)
#define CHIMNEY_STATS_TCP6              (1u << 1)
#define CHIMNEY_STATS_IP4               (1u << 2)
#define CHIMNEY_STATS_IP6               (1u << 3)

/*
 * Event ring entry.  Written by the device; the flags word (VALID) is
 * written last so a driver that sees VALID sees the whole entry.  The
 * driver clears VALID before handing the slot back through TAIL.
 */
typedef struct ChimneyEvent {
    uint16_t type;      /* CHIMNEY_EVT_* */
    uint16_t code;      /* completions: opcode; TCP_RETRIEVE: upload
                         * reason; STATUS: CHIMNEY_STATUS_IND_* */
    uint32_t status;    /* completions: CHIMNEY_ST_* */
    uint64_t cookie;    /* completions: the request's cookie; object
                         * events: the object's host_handle from its
                         * offload block */
    uint64_t handle;    /* device handle of the object, 0 if none */
    uint32_t info;      /* type-specific (bytes, backlog, NRD, ...) */
    uint32_t flags;     /* CHIMNEY_EVTF_VALID, written last */
} ChimneyEvent;

#define CHIMNEY_EVTF_VALID              (1u << 0)

enum ChimneyEventType {
    CHIMNEY_EVT_CMD_DONE        = 0x01, /* a command completed */
    CHIMNEY_EVT_SEND_DONE       = 0x02, /* SEND acked: info = bytes acked */
    CHIMNEY_EVT_RECV_DONE       = 0x03, /* RECV_POST done: info = bytes */
    CHIMNEY_EVT_DISC_DONE       = 0x04, /* DISCONNECT done */
    CHIMNEY_EVT_FORWARD_DONE    = 0x05, /* FORWARD done */
    CHIMNEY_EVT_RECV_INDICATE   = 0x06, /* data in IND ring: info = bytes */
    CHIMNEY_EVT_TCP_DISCONNECT  = 0x10, /* peer FIN, all data consumed */
    CHIMNEY_EVT_TCP_ABORT       = 0x11, /* info = CHIMNEY_ABORT_* */
    CHIMNEY_EVT_TCP_RETRIEVE    = 0x12, /* upload request: code = reason */
    CHIMNEY_EVT_TCP_BACKLOG     = 0x13, /* info = new send backlog bytes */
    CHIMNEY_EVT_NEIGH_QUERY     = 0x20, /* reachability query: info = NRD */
    CHIMNEY_EVT_STATUS          = 0x30, /* code = CHIMNEY_STATUS_IND_* */
    CHIMNEY_EVT_LINK            = 0x31, /* info = 1 up, 0 down */
};

/* EVT_STATUS codes (NdisMIndicateStatusEx equivalents) */
enum ChimneyStatusIndication {
    CHIMNEY_STATUS_IND_PAUSE      = 1,  /* stop offloading new objects */
    CHIMNEY_STATUS_IND_UPLOAD_ALL = 2,  /* upload every connection */
    CHIMNEY_STATUS_IND_RESUME     = 3,  /* offloading allowed again */
};

/* EVT_TCP_ABORT info: why the connection is aborted */
enum ChimneyAbortReason {
    CHIMNEY_ABORT_RST_RECEIVED     = 0, /* an acceptable RST arrived */
    CHIMNEY_ABORT_DATA_AFTER_CLOSE = 1, /* the RST for DISC_RCV_CLOSED */
};

/* TCP_UPLOAD_REASON values (chimney-spec 1.7) */
enum ChimneyUploadReason {
    CHIMNEY_UPLOAD_LOW_ACTIVITY       = 1,
    CHIMNEY_UPLOAD_HIGH_DROP_RATE     = 2,
    CHIMNEY_UPLOAD_SMALL_IO           = 3,
    CHIMNEY_UPLOAD_NO_BUFFER_PREPOST  = 4,
    CHIMNEY_UPLOAD_URGENT_DATA        = 5,
    CHIMNEY_UPLOAD_HIGH_FRAGMENTATION = 6,
    CHIMNEY_UPLOAD_HIGH_OUT_OF_ORDER  = 7,
    CHIMNEY_UPLOAD_TIMEOUT            = 8,
    CHIMNEY_UPLOAD_INVALID_STATE      = 9,
    CHIMNEY_UPLOAD_REQUESTED          = 10,
    CHIMNEY_UPLOAD_HARDWARE_FAILURE   = 11,
};

/* IND ring descriptor: the device fills it with indicated receive data. */
typedef struct ChimneyIndDesc {
    uint64_t addr;      /* guest-physical buffer address */
    uint32_t buf_len;   /* driver: buffer size, >= 1 */
    uint32_t len;       /* device: bytes written */
    uint64_t handle;    /* device: TCP object the data belongs to */
    uint32_t seq;       /* device: TCP sequence number of the first byte */
    uint16_t rsvd;
    uint16_t status;    /* device: DONE | EOP | error << 8, written last */
} ChimneyIndDesc;

/*
 * Completion statuses (ChimneyEvent.status, ChimneyBlock.status).
 * NDIS names and values are kept so a Windows miniport can pass them on.
 */
#define CHIMNEY_ST_SUCCESS                  0x00000000u
#define CHIMNEY_ST_PENDING                  0x00000103u
#define CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS  0x40020004u
#define CHIMNEY_ST_FAILURE                  0xc0000001u
#define CHIMNEY_ST_RESOURCES                0xc000009au
#define CHIMNEY_ST_REQUEST_ABORTED          0xc0010002u
/* NDIS_STATUS_INVALID_STATE */
#define CHIMNEY_ST_INVALID_STATE            0xc0010017u
#define CHIMNEY_ST_INVALID_PARAMETER        0xc0010015u
#define CHIMNEY_ST_NOT_SUPPORTED            0xc00000bbu
#define CHIMNEY_ST_UPLOAD_IN_PROGRESS       0xc0231001u
#define CHIMNEY_ST_OFFLOAD_TCP_ENTRIES      0xc0231004u
#define CHIMNEY_ST_OFFLOAD_PATH_ENTRIES     0xc0231005u
#define CHIMNEY_ST_OFFLOAD_NEIGHBOR_ENTRIES 0xc0231006u
#define CHIMNEY_ST_OFFLOAD_IP_ADDRESS_ENTRIES 0xc0231007u
#define CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES 0xc0231008u
#define CHIMNEY_ST_OFFLOAD_VLAN_ENTRIES     0xc0231009u
#define CHIMNEY_ST_OFFLOAD_TCP_XMIT_BUFFER  0xc023100au
#define CHIMNEY_ST_OFFLOAD_TCP_RCV_BUFFER   0xc023100bu
#define CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW   0xc023100cu
#define CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH    0xc023100du
#define CHIMNEY_ST_OFFLOAD_DATA_NOT_ACCEPTED 0xc023100eu
#define CHIMNEY_ST_OFFLOAD_POLICY           0xc023100fu
#define CHIMNEY_ST_OFFLOAD_DATA_PARTIALLY_ACCEPTED 0xc0231010u
/* Not in the public headers (chimney-spec 9.13): project-assigned values. */
#define CHIMNEY_ST_OFFLOAD_PATH_MTU         0xc0231012u
#define CHIMNEY_ST_OFFLOAD_CONNECTION_REJECTED 0xc0231013u
/* Device-specific guest-error statuses (bad trees, handles, buffers). */
#define CHIMNEY_ST_BAD_TREE                 0xc0ce0001u /* malformed tree */
#define CHIMNEY_ST_TREE_TOO_LARGE           0xc0ce0002u /* > CAP_TREE_BLOCKS */
#define CHIMNEY_ST_BAD_HANDLE               0xc0ce0003u /* stale/forged/
                                                       * wrong kind */
#define CHIMNEY_ST_DMA_ERROR                0xc0ce0004u /* guest memory */
#define CHIMNEY_ST_BAD_LENGTH               0xc0ce0005u /* too short or
                                                       * inconsistent */
/*
 * BAD_TYPE: a known block type that does not suit the block: a NEW block
 * not of its layer's combined type, a REF/LINKER path block of the other IP
 * version, TCP_RESOURCE.  An unknown type value is BAD_TREE.
 */
#define CHIMNEY_ST_BAD_TYPE                 0xc0ce0006u
#define CHIMNEY_ST_DUPLICATE                0xc0ce0007u /* 4-tuple offloaded */
#define CHIMNEY_ST_HAS_DEPENDENTS           0xc0ce0008u /* not all listed */
#define CHIMNEY_ST_OFFLOAD_DISABLED         0xc0ce0009u /* offload not on */
#define CHIMNEY_ST_NOT_ATTEMPTED            0xc0ce000au /* root failed */

/* ---------------------------------------------------------------------
 * Offload state trees (in guest memory)
 *
 * A tree is a set of ChimneyBlock structures linked by guest-physical
 * addresses.  A block is followed immediately (at block address + 64) by
 * the state structures its type and the operation call for, each starting
 * with a ChimneyStateHdr whose length covers that structure.  The block's
 * `size` covers the block and everything that follows it.
 * ------------------------------------------------------------------ */

/* Block types: the OFFLOAD_STATE_TYPE values of chimney-spec 1.7. */
enum ChimneyStateType {
    CHIMNEY_TYPE_NEIGH_CONST     = 1,
    CHIMNEY_TYPE_NEIGH_CACHED    = 2,
    CHIMNEY_TYPE_NEIGH_DELEGATED = 3,
    CHIMNEY_TYPE_NEIGH           = 4,  /* CONST + CACHED + DELEGATED */
    CHIMNEY_TYPE_IP4_CONST       = 5,
    CHIMNEY_TYPE_IP4_CACHED      = 6,
    CHIMNEY_TYPE_IP4_DELEGATED   = 7,
    CHIMNEY_TYPE_IP4             = 8,
    CHIMNEY_TYPE_IP6_CONST       = 9,
    CHIMNEY_TYPE_IP6_CACHED      = 10,
    CHIMNEY_TYPE_IP6_DELEGATED   = 11,
    CHIMNEY_TYPE_IP6             = 12,
    CHIMNEY_TYPE_TCP_CONST       = 13,
    CHIMNEY_TYPE_TCP_CACHED      = 14,
    CHIMNEY_TYPE_TCP_DELEGATED   = 15,
    CHIMNEY_TYPE_TCP_RESOURCE    = 16, /* reserved: BAD_TYPE */
    CHIMNEY_TYPE_TCP             = 17,
};

/* Block roles (chimney-spec 2.2) */
enum ChimneyBlockRole {
    CHIMNEY_ROLE_NEW         = 0, /* new offload: state follows */
    CHIMNEY_ROLE_LINKER      = 1, /* names an offloaded object (handle) */
    CHIMNEY_ROLE_PLACEHOLDER = 2, /* only carries dependents */
    CHIMNEY_ROLE_REF         = 3, /* update/query/terminate/invalidate */
};

typedef struct ChimneyBlock {
    uint16_t type;          /* CHIMNEY_TYPE_* */
    uint16_t role;          /* CHIMNEY_ROLE_* */
    uint32_t size;          /* block + following state, bytes */
    uint64_t next;          /* next block at this layer, 0 = none */
    uint64_t dependent;     /* first block of the layer above, 0 = none */
    uint32_t status;        /* device: CHIMNEY_ST_*, always written */
    uint32_t flags;         /* device: CHIMNEY_BLKF_* */
    uint64_t handle;        /* in: object (LINKER/REF); out: new object */
    uint64_t host_handle;   /* driver's value, echoed in object events */
    uint64_t rsvd[2];
} ChimneyBlock;

#define CHIMNEY_BLKF_HANDLE_VALID       (1u << 0)  /* handle written */

/*
 * Device handles: bits 0..23 table index, bits 24..27 object kind, bits
 * 32..63 generation (never 0).  A handle whose generation does not match
 * the live object in that slot is stale and rejected (CHIMNEY_ST_BAD_HANDLE).
 */
#define CHIMNEY_HANDLE_INDEX(h)         ((uint32_t)((h) & 0xffffffu))
#define CHIMNEY_HANDLE_KIND(h)          ((uint32_t)(((h) >> 24) & 0xfu))
#define CHIMNEY_HANDLE_GEN(h)           ((uint32_t)((h) >> 32))
#define CHIMNEY_HANDLE_MAKE(kind, idx, gen) \
    (((uint64_t)(gen) << 32) | ((uint64_t)(kind) << 24) | (uint64_t)(idx))
enum ChimneyObjKind {
    CHIMNEY_KIND_NEIGH = 1,
    CHIMNEY_KIND_PATH  = 2,
    CHIMNEY_KIND_TCP   = 3,
};

typedef struct ChimneyStateHdr {
    uint32_t length;            /* bytes of this structure incl. header */
    uint32_t recognized_options; /* reserved, 0 */
} ChimneyStateHdr;

/* Neighbor (chimney-spec 1.3).  MACs: 6 bytes, decision 9.2. */
typedef struct ChimneyNeighConst {
    ChimneyStateHdr hdr;
    uint8_t  dl_src_addr[6];    /* all zero: use the interface MAC */
    uint16_t vlan_id;           /* bits 0..11; 0 = not significant */
} ChimneyNeighConst;

typedef struct ChimneyNeighCached {
    ChimneyStateHdr hdr;
    uint8_t  dl_dst_addr[6];
    uint16_t rsvd;
    uint32_t host_reachability_delta; /* HRD, host ticks */
    uint32_t rsvd2;
} ChimneyNeighCached;

typedef struct ChimneyNeighDelegated {
    ChimneyStateHdr hdr;
    uint32_t nic_reachability_delta;  /* NRD, host ticks */
    uint32_t rsvd;
} ChimneyNeighDelegated;

/* Path (chimney-spec 1.4).  IPv4 addresses use the first 4 bytes. */
typedef struct ChimneyPathConst {
    ChimneyStateHdr hdr;
    uint8_t  src_addr[16];      /* network byte order */
    uint8_t  dst_addr[16];      /* network byte order */
} ChimneyPathConst;

typedef struct ChimneyPathCached {
    ChimneyStateHdr hdr;
    uint32_t path_mtu;
    uint32_t rsvd;
} ChimneyPathCached;

typedef struct ChimneyPathDelegated {
    ChimneyStateHdr hdr;
} ChimneyPathDelegated;

/* TCP (chimney-spec 1.5).  Ports are numbers in LE (decision 9.1). */
#define CHIMNEY_TCP_CONST_TIMESTAMP     (1u << 0)
#define CHIMNEY_TCP_CONST_SACK          (1u << 1)
#define CHIMNEY_TCP_CONST_WSCALE        (1u << 2)

typedef struct ChimneyTcpConst {
    ChimneyStateHdr hdr;
    uint16_t flags;             /* CHIMNEY_TCP_CONST_* */
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t  snd_wind_scale;    /* 0..14 */
    uint8_t  rcv_wind_scale;    /* 0..14 */
    uint16_t remote_mss;
    uint16_t rsvd;
    uint32_t hash_value;        /* RSS hash from the host */
} ChimneyTcpConst;

#define CHIMNEY_TCP_CACHED_KEEPALIVE    (1u << 0)
#define CHIMNEY_TCP_CACHED_NAGLE        (1u << 1)
#define CHIMNEY_TCP_CACHED_KA_RESTART   (1u << 2)
#define CHIMNEY_TCP_CACHED_MAX_RT_RESTART (1u << 3)
#define CHIMNEY_TCP_CACHED_UPDATE_RCV_WND (1u << 4)

typedef struct ChimneyTcpCached {
    ChimneyStateHdr hdr;
    uint16_t flags;             /* CHIMNEY_TCP_CACHED_* */
    uint16_t rsvd;
    uint32_t initial_rcv_wnd;
    uint32_t rcv_indication_size;
    uint32_t ka_timeout;        /* ticks */
    uint32_t ka_interval;       /* ticks */
    uint32_t max_rt;            /* ticks; 0 count-based; ~0 unlimited */
    uint32_t flow_label;        /* bits 0..19, IPv6 */
    uint8_t  ka_probe_count;
    uint8_t  ttl_hop_limit;
    uint8_t  tos_traffic_class;
    uint8_t  user_priority;     /* bits 0..2, 802.1p */
} ChimneyTcpCached;

enum ChimneyTcpState {
    CHIMNEY_TCPS_CLOSED = 0, CHIMNEY_TCPS_LISTEN = 1, CHIMNEY_TCPS_SYN_SENT = 2,
    CHIMNEY_TCPS_SYN_RCVD = 3, CHIMNEY_TCPS_ESTABLISHED = 4,
    CHIMNEY_TCPS_FIN_WAIT_1 = 5, CHIMNEY_TCPS_FIN_WAIT_2 = 6,
    CHIMNEY_TCPS_CLOSE_WAIT = 7, CHIMNEY_TCPS_CLOSING = 8,
    CHIMNEY_TCPS_LAST_ACK = 9, CHIMNEY_TCPS_TIME_WAIT = 10,
};

#define CHIMNEY_TIMER_OFF               0xffffffffu

/*
 * Send data handed over at initiate (and handed back at terminate) is a
 * list of ChimneySendBuf, one per pending send request, in send order; the
 * byte at addr + acked of the first entry is the byte at SndUna (acked is 0
 * at initiate; chimney-spec 3.1.4).
 */
typedef struct ChimneySendBuf {
    uint64_t addr;              /* guest-physical data address */
    uint32_t len;               /* bytes */
    uint32_t acked;             /* terminate: bytes already acknowledged */
    uint64_t cookie;            /* driver's id for the send request */
} ChimneySendBuf;

/*
 * A RECV_POST with CHIMNEY_RECVF_SGL describes its buffer as a list of
 * pieces (addr: the list, len: its entry count); data fills them in list
 * order.  The list must stay unchanged until the RECV_DONE.
 */
typedef struct ChimneyRecvSge {
    uint64_t addr;              /* guest-physical address of the piece */
    uint32_t len;               /* bytes, > 0 */
    uint32_t reserved;          /* 0 */
} ChimneyRecvSge;

typedef struct ChimneyTcpDelegated {
    ChimneyStateHdr hdr;
    uint32_t state;             /* ChimneyTcpState */
    uint16_t flags;             /* reserved */
    uint16_t rsvd;
    uint32_t rcv_nxt;
    uint32_t rcv_wnd;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;
    uint32_t snd_wnd;
    uint32_t max_snd_wnd;
    uint32_t snd_wl1;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint16_t srtt;              /* ticks x 8 */
    uint16_t rttvar;            /* ticks x 4 */
    uint32_t ts_recent;
    uint32_t ts_recent_age;
    uint32_t ts_time;
    uint32_t total_rt;
    uint8_t  dup_ack_count;
    uint8_t  snd_wnd_probe_count;
    uint8_t  ka_probe_count;
    uint8_t  rexmit_count;
    uint32_t ka_timeout_delta;  /* ticks, CHIMNEY_TIMER_OFF = stopped */
    uint32_t rexmit_timeout_delta;
    uint32_t send_backlog_size; /* query: preferred outstanding bytes,
                                 * MIN(MAX(cwnd, snd_wnd), 16 MiB);
                                 * terminate: 0 */
    uint32_t rcv_backlog_size;  /* query: bytes buffered in the device;
                                 * terminate: 0 */
    uint32_t dwnd;              /* reserved (NDIS 6.1 DWnd) */
    uint32_t rsvd2;
    /* send data: list of ChimneySendBuf (initiate: in; terminate: out) */
    uint64_t send_list_addr;
    uint32_t send_list_count;   /* initiate: entries; terminate: written */
    uint32_t send_list_cap;     /* terminate: entries available */
    /*
     * received, acknowledged, undelivered data (initiate: in; terminate:
     * out into a buffer of rcv_data_cap bytes)
     */
    uint64_t rcv_data_addr;
    uint32_t rcv_data_len;
    uint32_t rcv_data_cap;
} ChimneyTcpDelegated;

/*
 * Command payloads
 */

/* SET_PARAMS: NDIS_TCP_CONNECTION_OFFLOAD_PARAMETERS (chimney-spec 7.3) */
typedef struct ChimneyOffloadParams {
    ChimneyStateHdr hdr;
    uint32_t ticks_per_second;  /* 10, 100 or 1000 */
    uint8_t  ack_frequency;
    uint8_t  delayed_ack_ticks;
    uint8_t  max_retransmissions;
    uint8_t  doubt_reachability_retransmissions;
    uint32_t sws_prevention_ticks;
    uint32_t dup_ack_threshold;
    uint32_t push_ticks;
    uint32_t nce_stale_ticks;
    uint32_t fin_wait2_ticks;   /* 0 = 120 s */
    uint32_t rsvd;
} ChimneyOffloadParams;

/* QUERY_STATS: per IP version TCP and IP counters (chimney-spec 7.4) */
typedef struct ChimneyTcpStats {
    uint64_t in_segments;
    uint64_t out_segments;
    uint32_t currently_established;
    uint32_t reset_established;
    uint32_t retransmitted_segments;
    uint32_t in_errors;
    uint32_t out_resets;
    uint32_t rsvd;
} ChimneyTcpStats;

typedef struct ChimneyIpStats {
    uint64_t in_receives;
    uint64_t in_octets;
    uint64_t in_delivers;
    uint64_t out_requests;
    uint64_t out_octets;
    uint32_t in_header_errors;
    uint32_t in_truncated_packets;
    uint32_t in_discards;
    uint32_t out_discards;
    uint32_t out_no_routes;
    uint32_t rsvd;
} ChimneyIpStats;

typedef struct ChimneyOffloadStats {
    ChimneyStateHdr hdr;
    ChimneyTcpStats tcp4;
    ChimneyTcpStats tcp6;
    ChimneyIpStats  ip4;
    ChimneyIpStats  ip6;
} ChimneyOffloadStats;

/*
 * Size checks: the layout is the ABI.
 */
#define CHIMNEY_ABI_ASSERT(t, n) \
    _Static_assert(sizeof(t) == (n), "chimney ABI: sizeof(" #t ")")
CHIMNEY_ABI_ASSERT(ChimneyTxDesc, 16);
CHIMNEY_ABI_ASSERT(ChimneyRxDesc, 16);
CHIMNEY_ABI_ASSERT(ChimneyCmdDesc, 32);
CHIMNEY_ABI_ASSERT(ChimneyEvent, 32);
CHIMNEY_ABI_ASSERT(ChimneyIndDesc, 32);
CHIMNEY_ABI_ASSERT(ChimneyBlock, 64);
CHIMNEY_ABI_ASSERT(ChimneyStateHdr, 8);
CHIMNEY_ABI_ASSERT(ChimneyNeighConst, 16);
CHIMNEY_ABI_ASSERT(ChimneyNeighCached, 24);
CHIMNEY_ABI_ASSERT(ChimneyNeighDelegated, 16);
CHIMNEY_ABI_ASSERT(ChimneyPathConst, 40);
CHIMNEY_ABI_ASSERT(ChimneyPathCached, 16);
CHIMNEY_ABI_ASSERT(ChimneyPathDelegated, 8);
CHIMNEY_ABI_ASSERT(ChimneyTcpConst, 24);
CHIMNEY_ABI_ASSERT(ChimneyTcpCached, 40);
CHIMNEY_ABI_ASSERT(ChimneyTcpDelegated, 136);
CHIMNEY_ABI_ASSERT(ChimneySendBuf, 24);
CHIMNEY_ABI_ASSERT(ChimneyRecvSge, 16);
CHIMNEY_ABI_ASSERT(ChimneyOffloadParams, 40);
CHIMNEY_ABI_ASSERT(ChimneyTcpStats, 40);
CHIMNEY_ABI_ASSERT(ChimneyIpStats, 64);
CHIMNEY_ABI_ASSERT(ChimneyOffloadStats, 216);

#endif /* CHIMNEY_HW_H */

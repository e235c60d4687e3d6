/* libFuzzer target for the SDP parser: any input parses or fails cleanly; a parsed data
 * channel section written back by sluice_sdp_write parses again to the same values. */
#include <stdlib.h>
#include <string.h>

#include "sdp.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const char *s, size_t cap) {
    if (!memchr(s, 0, cap)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sluice_sdp s, again; /* ~80 KB each: not on the stack (fuzzer state, not library) */
    char err[256];
    int rc = sluice_sdp_parse((const char *)data, size, &s, err, sizeof err);
    if (rc != SLUICE_OK) {
        if (rc != SLUICE_ERR_SDP || !err[0]) abort();
        return 0;
    }
    if (s.media_count > SLUICE_SDP_MAX_MEDIA || s.bundle_count > 8) abort();
    if (s.datachannel_index >= (int)s.media_count) abort();
    for (size_t i = 0; i < s.media_count; i++) {
        const sluice_sdp_media *m = &s.media[i];
        check_terminated(m->mid, sizeof m->mid);
        check_terminated(m->ice_ufrag, sizeof m->ice_ufrag);
        check_terminated(m->ice_pwd, sizeof m->ice_pwd);
        if (m->candidates_count > SLUICE_SDP_MAX_CANDIDATES) abort();
        if (m->fingerprints_count > SLUICE_SDP_MAX_FINGERPRINTS) abort();
        for (size_t c = 0; c < m->candidates_count; c++) {
            check_terminated(m->candidates[c], sizeof m->candidates[c]);
            if (strncmp(m->candidates[c], "candidate:", 10) != 0) abort();
        }
    }
    if (s.datachannel_index < 0) return 0;

    /* Write what we parsed as if it were our own description, then read it back. */
    const sluice_sdp_media *m = &s.media[s.datachannel_index];
    if (!m->fingerprints_count || !m->mid[0]) return 0;
    const char *cands[SLUICE_SDP_MAX_CANDIDATES];
    for (size_t c = 0; c < m->candidates_count; c++) cands[c] = m->candidates[c];
    sluice_sdp_local l;
    memset(&l, 0, sizeof l);
    l.session_id = s.session_id;
    l.session_version = s.session_version;
    l.mid = m->mid;
    l.ice_ufrag = m->ice_ufrag;
    l.ice_pwd = m->ice_pwd;
    l.fingerprint_alg = m->fingerprints[0].alg;
    l.fingerprint_hex = m->fingerprints[0].hex;
    l.setup = m->setup;
    l.sctp_port = m->sctp_port;
    l.max_message_size = m->max_message_size;
    l.candidates = cands;
    l.candidates_count = m->candidates_count;
    l.end_of_candidates = m->end_of_candidates;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    rc = sluice_sdp_write(&l, &b);
    if (rc == SLUICE_OK) {
        if (sluice_sdp_parse((const char *)b.data, b.len, &again, err, sizeof err) != SLUICE_OK) abort();
        const sluice_sdp_media *n = &again.media[0];
        if (again.datachannel_index != 0 || strcmp(n->mid, m->mid) || strcmp(n->ice_ufrag, m->ice_ufrag) ||
            strcmp(n->ice_pwd, m->ice_pwd) || strcmp(n->fingerprints[0].hex, m->fingerprints[0].hex) ||
            strcmp(n->fingerprints[0].alg, m->fingerprints[0].alg) || n->setup != m->setup ||
            n->sctp_port != m->sctp_port || n->max_message_size != m->max_message_size ||
            n->candidates_count != m->candidates_count || n->end_of_candidates != m->end_of_candidates)
            abort();
        for (size_t c = 0; c < m->candidates_count; c++)
            if (strcmp(n->candidates[c], m->candidates[c])) abort();
    } else if (rc != SLUICE_ERR_INVALID_ARGUMENT) {
        abort();
    }
    sluice_buf_clear(&b);

    /* Answer it (JSEP mirror mode): one m= section per offered one, data channel in place. */
    if (sluice_sdp_check_remote(&s, true, NULL, err, sizeof err) != SLUICE_OK) return 0;
    l.mid = NULL;
    l.mirror = &s;
    l.setup = sluice_sdp_answer_setup(m->setup);
    if (l.setup == SLUICE_SDP_SETUP_NONE) return 0;
    rc = sluice_sdp_write(&l, &b);
    if (rc == SLUICE_OK) {
        if (sluice_sdp_parse((const char *)b.data, b.len, &again, err, sizeof err) != SLUICE_OK) abort();
        if (again.media_count != s.media_count || again.datachannel_index != s.datachannel_index) abort();
        if (sluice_sdp_check_remote(&again, false, m->mid, err, sizeof err) != SLUICE_OK) abort();
        /* Both views of the DTLS role agree: exactly one side is the client. */
        int answerer = sluice_sdp_dtls_client(l.setup, m->setup);
        if (answerer < 0) abort();
        if (m->setup == SLUICE_SDP_SETUP_ACTPASS || m->setup == SLUICE_SDP_SETUP_NONE) {
            int offerer = sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, again.media[again.datachannel_index].setup);
            if (offerer < 0 || offerer == answerer) abort();
        }
    } else if (rc != SLUICE_ERR_INVALID_ARGUMENT) {
        abort();
    }
    sluice_buf_clear(&b);
    return 0;
}

/* Test certificates made in-process with OpenSSL: a private CA and server certificates it
 * signs (P-256, SHA-256, valid from an hour ago for a day). Static helpers for tests only. */
#ifndef SLUICE_TESTKIT_TLS_H
#define SLUICE_TESTKIT_TLS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

typedef struct tk_cert {
    EVP_PKEY *key;
    X509 *cert;
} tk_cert;

static bool tk_add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!e) return false;
    bool ok = X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* issuer NULL: a self-signed CA named `cn`. Else a server certificate for `san`
 * ("DNS:turn.test,IP:127.0.0.1") signed by issuer. Returns false on failure. */
static bool tk_make_cert(tk_cert *out, const char *cn, const tk_cert *issuer, const char *san, long serial) {
    memset(out, 0, sizeof *out);
    out->key = EVP_EC_gen("P-256");
    out->cert = X509_new();
    if (!out->key || !out->cert) return false;
    X509 *x = out->cert;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509_set_pubkey(x, out->key);
    X509 *iss = issuer ? issuer->cert : x;
    bool ok = tk_add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (!issuer) {
        ok = ok && tk_add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE") &&
             tk_add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok = ok && tk_add_ext(x, iss, NID_basic_constraints, "CA:FALSE") &&
             tk_add_ext(x, iss, NID_authority_key_identifier, "keyid:always") &&
             tk_add_ext(x, iss, NID_ext_key_usage, "serverAuth") &&
             tk_add_ext(x, iss, NID_subject_alt_name, san);
    }
    return ok && X509_sign(x, issuer ? issuer->key : out->key, EVP_sha256()) > 0;
}

static void tk_free_cert(tk_cert *c) {
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof *c);
}

/* PEM text of the certificate (key false) or of the private key (key true); free() it. */
static char *tk_pem(const tk_cert *c, bool key) {
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return NULL;
    int ok = key ? PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, c->cert);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = ok && n > 0 ? calloc(1, (size_t)n + 1) : NULL;
    if (s) memcpy(s, data, (size_t)n);
    BIO_free(b);
    return s;
}

#endif

# Declarations for _digest_c.pyx. The MD5 itself is a verbatim C block in the .pyx, so the
# build needs no OpenSSL headers (CI installs only libwbxml2-dev).

# H(secret ":" nonce [":" B64(H(body))]) into out[16], streamed through one MD5 context:
# no concatenated Python bytes are ever built. with_body=0 is the auth-md5 form.
cdef void _dm_digest(const unsigned char* secret, Py_ssize_t secret_len,
                     const unsigned char* nonce, Py_ssize_t nonce_len,
                     const unsigned char* body, Py_ssize_t body_len, bint with_body,
                     unsigned char* out) noexcept nogil

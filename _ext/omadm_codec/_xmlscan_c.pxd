# Cython looks up a module's .pxd by its qualified name (omadm_codec._xmlscan_c), both when
# compiling _ext/xmlscan_c.pyx and when another module cimports it; the declarations live in
# _ext/xmlscan_c.pxd.
include "xmlscan_c.pxd"

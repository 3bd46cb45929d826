"""Registry of sandbox services: name -> ``module:Class``.

Adding an authority = one class deriving from
:class:`tests.sandbox.core.SandboxService` + one line here.  Relative module
names are resolved inside ``tests.sandbox``.  Services whose module cannot
be imported are skipped (with a warning) when all services are loaded.
"""

SERVICES = {
    'test_authority': '.test_authority:TestAuthorityService',
    'test_chain': '.test_chain_authority:TestChainService',
    'test_clearance': '.test_clearance_authority:TestClearanceService',
    'test_async': '.test_async_authority:TestAsyncService',
    'onboarding_ca': '.onboarding_ca:OnboardingCAService',
    'sii': '.sii:SIIService',
    'verifactu': '.verifactu:VerifactuService',
    'afip_wsaa': '.afip_wsaa:WSAAService',
    'afip_wsfe': '.afip_wsfe:WSFEService',
    'zatca': '.zatca:ZatcaService',
    'sifen': '.sifen:SifenService',
}

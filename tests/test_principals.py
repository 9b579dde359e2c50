"""Both doors' request.user build on one TokenPrincipal: same flags, same equality rule."""

from __future__ import annotations

import pytest

from django_atlassian_connect.connect.identity import ConnectUser
from django_atlassian_connect.forge.principal import ForgePrincipal
from django_atlassian_connect.models import ForgeInstallation, Tenant
from django_atlassian_connect.principals import TokenPrincipal

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture
def two_tenants():
    return [
        Tenant.objects.create(client_key=f"jira:{n}", base_url=f"https://s{n}.atlassian.net")
        for n in (1, 2)
    ]


@pytest.fixture
def two_installations():
    return [
        ForgeInstallation.objects.create(installation_id=f"ari:cloud:ecosystem::installation/{n}")
        for n in (1, 2)
    ]


def test_both_principals_are_token_principals_with_djangos_flags(two_tenants, two_installations):
    for principal in (
        ConnectUser(ACCOUNT, two_tenants[0]),
        ForgePrincipal(ACCOUNT, two_installations[0]),
    ):
        assert isinstance(principal, TokenPrincipal)
        assert principal.is_authenticated and principal.is_active
        assert not (principal.is_staff or principal.is_superuser or principal.is_anonymous)
        assert principal.pk is None and principal.id is None
        assert principal.username == principal.get_username() == ACCOUNT


def test_equal_only_for_the_same_user_in_the_same_installation(two_tenants, two_installations):
    a, b = two_tenants
    assert ConnectUser(ACCOUNT, a) == ConnectUser(ACCOUNT, Tenant.objects.get(pk=a.pk))
    assert ConnectUser(ACCOUNT, a) != ConnectUser(ACCOUNT, b)
    assert ConnectUser(ACCOUNT, a) != ConnectUser("other", a)
    one, two = two_installations
    assert ForgePrincipal(ACCOUNT, one) == ForgePrincipal(ACCOUNT, one)
    assert ForgePrincipal(ACCOUNT, one) != ForgePrincipal(ACCOUNT, two)
    assert len({ConnectUser(ACCOUNT, a), ConnectUser(ACCOUNT, a), ConnectUser(ACCOUNT, b)}) == 2


def test_a_connect_user_never_equals_a_forge_principal(two_tenants, two_installations):
    # Same account, and a tenant pk equal to the installation's key is impossible to confuse.
    connect, forge = (
        ConnectUser(ACCOUNT, two_tenants[0]),
        ForgePrincipal(ACCOUNT, two_installations[0]),
    )
    assert connect != forge and forge != connect


def test_anonymous_means_no_user_for_connect_and_the_app_for_forge(two_tenants, two_installations):
    anonymous = ConnectUser(None, two_tenants[0])
    assert anonymous.is_anonymous and anonymous.username == ""
    app = ForgePrincipal(None, two_installations[0])
    assert app.is_app and not app.is_anonymous and str(app).startswith("app@")

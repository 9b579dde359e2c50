from django_atlassian_connect.models import LifecycleEvent, SharedSecret, Tenant


def test_install_and_page(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert tenant.current_secret.fingerprint
    token = installed_site.page_token("/page")
    r = installed_site.client.get("/page", {"jwt": token})
    assert r.status_code == 200, r.content
    assert SharedSecret.objects.count() == 1
    assert LifecycleEvent.objects.filter(accepted=True).count() == 1

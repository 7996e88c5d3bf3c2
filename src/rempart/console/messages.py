"""The services' refusals, said in French to the console's users.

The services word their refusals for the CLI (English, like its other messages); the console's audience
reads French. Each pattern keeps the facts of the original (account, roles, establishments, times); a
refusal with no French wording yet is shown as given, after a French lead.
"""

from __future__ import annotations

import re

ROLE_FR = {
    "rssi": "RSSI", "clinic_director": "direction d'établissement", "it_oncall": "astreinte informatique",
    "director_on_duty": "direction de garde", "care_manager": "cadre de santé", "auditor": "audit",
    "investigator": "investigation",
}


def _roles(text: str) -> str:
    return ", ".join(ROLE_FR.get(r.strip(), r.strip()) for r in text.split(","))


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"login refused"), "Connexion refusée : identifiant, mot de passe ou code incorrect."),
    (re.compile(r"too many failed attempts: try again in (\d+) s"),
     "Trop d'essais infructueux : réessayez dans {0} s."),
    (re.compile(r"approving needs a second factor from the last (\d+) minutes"),
     "Approuver exige un code TOTP de moins de {0} minutes : saisissez le code affiché par votre "
     "application."),
    (re.compile(r"code refused"), "Code refusé (faux, expiré ou déjà utilisé) : attendez le code suivant."),
    (re.compile(r"not logged in"), "Session terminée ou absente : reconnectez-vous."),
    (re.compile(r"(\S+) holds only read-only roles"), "Le compte {0} est en lecture seule : il ne peut rien "
     "modifier."),
    (re.compile(r"(\S+) acts only for (.+?): (.+) covers the whole group"),
     "Le compte {0} n'agit que pour {1} : cette vue couvre tout le groupe."),
    (re.compile(r"(\S+) acts only for (.+?), not for (.+)$"),
     "Le compte {0} n'agit que pour {1}, pas pour {2}."),
    (re.compile(r"(\S+) works only on (.+?), not on (.+)$"),
     "Le compte {0} ne travaille que sur {1}, pas sur {2}."),
    (re.compile(r"(\S+) has already approved (.+?);"),
     "{0} a déjà approuvé {1} : il faut des approbateurs distincts, une même personne ne compte qu'une "
     "fois."),
    (re.compile(r"(\S+) holds role (.+?); (.+?) needs an approver holding one of: (.+)$"),
     "{0} ({1:roles}) ne peut pas approuver {2} : il faut l'un des rôles {3:roles}."),
    (re.compile(r"(.+?) still needs role (.+?); (\S+) holds (.+?), which is already covered"),
     "{0} attend encore le rôle {1:roles} ; {2} ({3:roles}) est déjà représenté."),
    (re.compile(r"(\S+) may approve only for (.+?), not for establishment (.+)$"),
     "{0} n'approuve que pour {1}, pas pour {2}."),
    (re.compile(r"'(\S+)' is not a person of the plan"),
     "{0} n'est pas une personne du plan : seules les personnes du plan approuvent."),
    (re.compile(r"account (\S+) is bound to no person of the plan"),
     "Le compte {0} n'est lié à aucune personne du plan : il ne peut pas décider."),
    (re.compile(r"(.+?) is (\S+): it no longer takes approvals"),
     "{0} n'attend plus d'approbation (état : {1})."),
    (re.compile(r"(.+?) is (\S+): it can no longer be rejected"),
     "{0} ne peut plus être refusée (état : {1})."),
    (re.compile(r"(\S+) \((.*?)\) observes the plan"),
     "Le compte {0} ({1:roles}) observe le plan : il n'en exécute pas les étapes."),
    (re.compile(r"form (\S+) is already (\S+); only an issued form can be returned"),
     "Le formulaire {0} est déjà enregistré comme {1} : seul un formulaire émis peut être rendu."),
    (re.compile(r"form (\S+) is (\S+); only a returned form can be entered"),
     "Le formulaire {0} est {1} : seul un formulaire rendu peut être saisi "
     "(enregistrez d'abord son retour)."),
    (re.compile(r"no snapshot for '(\S+)'"),
     "Aucun instantané des patients pour {0} : importez-en un d'abord."),
    (re.compile(r"(\S+) \((.*?)\) may not see patient data"),
     "Le compte {0} ({1:roles}) n'a pas accès aux données des patients."),
    (re.compile(r"a rejection needs a reason"), "Un refus doit être motivé."),
    (re.compile(r"an acknowledgement needs a comment"), "Dites ce qui a été fait avant de confirmer."),
    (re.compile(r"plan run (\d+) is not a run of (\S+)"), "L'exécution n° {0} n'appartient pas à {1}."),
    (re.compile(r"(.+?) runs automatically"), "{0} s'exécute automatiquement : aucune approbation."),
    (re.compile(r"(\S+) is not an administrator"), "Le compte {0} n'administre pas les comptes."),
    (re.compile(r"(\S+) \((.*?)\) may not see patient data"),
     "Le compte {0} ({1:roles}) n'a pas accès aux données des patients."),
]




_STEP = re.compile(r"\bstep (\d+) \(([^)]+)\)")
_FIELD = re.compile(r"\{(\d+)(:roles)?\}")


def _fill(template: str, groups: tuple[str | None, ...]) -> str:
    def field(m: re.Match[str]) -> str:
        value = groups[int(m.group(1))] or ""
        return _roles(value) if m.group(2) else value

    return _FIELD.sub(field, template)


def french(message: str) -> str:
    """``message`` (a service's refusal) in French."""
    message = _STEP.sub(r"l'étape \1 (\2)", message)
    for pattern, template in _PATTERNS:
        m = pattern.search(message)
        if m is not None:
            return _fill(template, m.groups())
    return f"Refusé : {message}"


_NEEDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\d+) more approver\(s\) among roles (.+?) \(have \d+: none\)$"),
     "{0} approbation(s) parmi les rôles {1:roles}"),
    (re.compile(r"(\d+) more approver\(s\) among roles (.+?) \(have (\d+): (.+?)\)$"),
     "{0} approbation(s) de plus parmi les rôles {1:roles} (déjà : {3})"),
    (re.compile(r"an approver holding role (.+?)(?: or (.+))?$"), "un approbateur du rôle {0:roles}"),
    (re.compile(r"after (\d+) min of waiting, (.+) may stand in$"),
     "au bout de {0} min d'attente, le rôle {1:roles} peut suppléer"),
]


def needs_french(text: str) -> str:
    """What a step still waits for (respond's ``needs``), in French, part by part."""
    parts = []
    for part in text.split("; "):
        found = next(((p, t) for p, t in _NEEDS if p.search(part)), None)
        if found is None:
            parts.append(part)
            continue
        pattern, template = found
        m = pattern.search(part)
        assert m is not None
        parts.append(_fill(template, m.groups()))
    return " ; ".join(parts)
